"""The app's panes and small widgets."""
