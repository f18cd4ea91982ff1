"""The models: the LSTM, the Kneser-Ney n-gram, their mixture, and the session that holds them."""
