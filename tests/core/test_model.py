"""The model: shapes, state carried across calls, tying, adaptive softmax, presets, checks."""

from __future__ import annotations

import math

import pytest
import torch

from lstm_tui.core.errors import ConfigError
from lstm_tui.core.model.device import available_devices, resolve_device
from lstm_tui.core.model.lstm import (
    ADAPTIVE_FROM_VOCAB,
    PRESETS,
    LanguageModel,
    ModelConfig,
    make_config,
)
from lstm_tui.core.training.auto import AUTO_TABLE, auto_choice
from lstm_tui.core.training.config import TrainConfig


def small(vocab_size: int = 50, **overrides) -> LanguageModel:
    torch.manual_seed(0)
    settings = {"embed": 16, "hidden": 16, "layers": 2, **overrides}
    return LanguageModel(make_config(vocab_size, "seed", **settings)).eval()


def test_shapes() -> None:
    model = small(50, embed=12, hidden=16, layers=3)
    tokens = torch.randint(0, 50, (4, 7))
    scores, (h, c) = model(tokens)
    assert scores.shape == (4, 7, 50)
    assert h.shape == c.shape == (3, 4, 16)
    features, _ = model.features(tokens)
    assert features.shape == (4, 7, 16)
    assert model.scores(features).shape == (4, 7, 50)
    h0, c0 = model.init_state(batch=4)
    assert h0.shape == (3, 4, 16) and not h0.any() and not c0.any()
    assert model.num_parameters() == sum(p.numel() for p in model.parameters())


def test_stateful_forward_equals_one_pass() -> None:
    model = small(50)
    tokens = torch.randint(0, 50, (3, 20))
    whole, (h, c) = model(tokens)
    first, state = model(tokens[:, :8])
    second, (h2, c2) = model(tokens[:, 8:], state)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    torch.testing.assert_close(h2, h)
    torch.testing.assert_close(c2, c)
    one_at_a_time, state = [], None
    for t in range(20):
        out, state = model(tokens[:, t : t + 1], state)
        one_at_a_time.append(out)
    torch.testing.assert_close(torch.cat(one_at_a_time, dim=1), whole)
    # An explicit zero state is the same as none.
    torch.testing.assert_close(model(tokens, model.init_state(3))[0], whole)


def test_weights_are_tied_when_embed_equals_hidden() -> None:
    tied = small(50, embed=16, hidden=16)
    assert tied.config.tied
    assert tied.decoder.weight is tied.embedding.weight
    untied = small(50, embed=8, hidden=16)
    assert not untied.config.tied
    assert untied.decoder.weight is not untied.embedding.weight
    assert untied.decoder.weight.shape == (50, 16)
    off = small(50, embed=16, hidden=16, tie_weights=False)
    assert off.decoder.weight is not off.embedding.weight
    assert tied.num_parameters() == off.num_parameters() - 50 * 16
    # A tied model learns through one table: a step changes both views alike.
    tied.train()
    loss, _ = tied.loss(
        tied.features(torch.randint(0, 50, (2, 5)))[0], torch.randint(0, 50, (2, 5))
    )
    loss.backward()
    assert tied.embedding.weight.grad is tied.decoder.weight.grad


def test_adaptive_softmax_for_a_large_vocabulary() -> None:
    assert make_config(ADAPTIVE_FROM_VOCAB, "seed").softmax == "full"
    config = make_config(ADAPTIVE_FROM_VOCAB + 1, "seed-1layer", embed=16, hidden=16)
    assert config.softmax == "adaptive" and config.cutoffs
    assert not config.tied
    torch.manual_seed(0)
    model = LanguageModel(config).eval()
    assert isinstance(model.decoder, torch.nn.AdaptiveLogSoftmaxWithLoss)
    tokens = torch.randint(0, config.vocab_size, (2, 6))
    scores, _ = model(tokens)
    assert scores.shape == (2, 6, config.vocab_size)
    # Adaptive scores are log-probabilities already: they sum to 1.
    torch.testing.assert_close(scores.exp().sum(-1), torch.ones(2, 6), rtol=0, atol=1e-4)
    torch.testing.assert_close(torch.log_softmax(scores, -1), scores, rtol=0, atol=1e-4)
    targets = torch.randint(0, config.vocab_size, (2, 6))
    loss, correct = model.loss(model.features(tokens)[0], targets)
    expected = -scores.gather(-1, targets.unsqueeze(-1)).mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)
    assert correct is not None and 0 <= correct.item() <= 12
    assert make_config(500, "seed", softmax="adaptive").softmax == "adaptive"
    assert make_config(50_000, "seed", softmax="full").softmax == "full"


def test_full_softmax_loss_and_accuracy() -> None:
    model = small(30)
    tokens, targets = torch.randint(0, 30, (2, 9)), torch.randint(0, 30, (2, 9))
    scores, _ = model(tokens)
    loss, correct = model.loss(model.features(tokens)[0], targets)
    expected = torch.nn.functional.cross_entropy(scores.reshape(-1, 30), targets.reshape(-1))
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert correct.item() == (scores.argmax(-1) == targets).sum().item()
    assert model.loss(model.features(tokens)[0], targets, count_correct=False)[1] is None


def test_dropout_only_in_training() -> None:
    model = small(50, dropout=0.5)
    tokens = torch.randint(0, 50, (2, 10))
    torch.testing.assert_close(model(tokens)[0], model(tokens)[0])  # eval: deterministic
    model.train()
    assert not torch.equal(model(tokens)[0], model(tokens)[0])


def test_embedding_dropout_drops_whole_words_and_keeps_the_expectation() -> None:
    """AWD-LSTM's dropoute: a dropped word is zero at every place it occurs in the batch, a
    kept one is scaled by 1/(1-p); the gradient reaches only the kept rows."""
    model = small(50, dropout_embed=0.5).train()
    tokens = torch.tensor([[3, 7, 3, 9, 7, 3], [9, 3, 7, 7, 9, 1]])
    plain = model.embedding(tokens)
    torch.manual_seed(4)
    dropped = model._embed(tokens)
    ratio = (dropped / plain)[..., 0]  # [B, T]: 0 or 2 at each place
    for word in (1, 3, 7, 9):
        at = ratio[tokens == word]
        assert torch.allclose(at, at[0].expand_as(at)) and at[0].item() in (0.0, 2.0)
    assert {0.0, 2.0} <= set(ratio.flatten().tolist())  # this seed drops some and keeps some
    dropped.sum().backward()
    grad_rows = model.embedding.weight.grad.abs().sum(-1)
    for word in (1, 3, 7, 9):
        kept = ratio[tokens == word][0].item() > 0
        assert (grad_rows[word] > 0) == kept
    assert torch.equal(model.eval()._embed(tokens), plain)


def test_presets() -> None:
    assert set(PRESETS) >= {"seed", "seed-1layer", "default", "large"}
    seed = make_config(113, "seed")
    assert (seed.layers, seed.hidden, seed.embed, seed.dropout) == (2, 512, 512, 0.0)
    one = make_config(113, "seed-1layer")
    assert (one.layers, one.hidden) == (1, 512)
    default = make_config(33_000, "default")
    assert (default.layers, default.hidden, default.dropout) == (2, 256, 0.2)
    assert default.softmax == "adaptive"
    # The fable (no validation split) keeps the tutorial's 2×512; real texts get a
    # regularised model, wider as the text grows.
    assert auto_choice(204).preset == "seed" and auto_choice(2_000_000).preset == "default"
    sizes = [row.model.get("hidden", 512) for row in AUTO_TABLE[1:]]
    assert sizes == sorted(sizes)
    for row in AUTO_TABLE[1:]:
        config = make_config(20_000, row.preset, **row.model)
        assert config.locked_dropout and config.dropout > 0
        TrainConfig(**row.train).check()
    overridden = make_config(113, "seed", hidden=64, layers=None)  # None leaves the preset's
    assert (overridden.hidden, overridden.layers) == (64, 2)
    assert LanguageModel(make_config(113, "seed")).num_parameters() == pytest.approx(4.3e6, 0.05)


def test_config_dict_round_trip() -> None:
    config = make_config(20_000, "default")
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown model settings: colour"):
        ModelConfig.from_dict({**config.to_dict(), "colour": "blue"})


@pytest.mark.parametrize(
    ("preset", "settings", "words"),
    [
        ("huge", {}, "unknown preset"),
        ("seed", {"hidden": 0}, "hidden must be a whole number"),
        ("seed", {"layers": 2.5}, "layers must be a whole number"),
        ("seed", {"embed": -3}, "embed must be"),
        ("seed", {"dropout": 1.0}, "dropout must be in [0, 1)"),
        ("seed", {"dropout": -0.1}, "dropout"),
        ("seed", {"layers": 17}, "layers must be at most 16"),
        ("seed", {"hidden": 100_000}, "8192"),
        ("seed", {"softmax": "hierarchical"}, "softmax must be"),
    ],
)
def test_bad_model_settings_raise_config_error(preset: str, settings: dict, words: str) -> None:
    softmax = settings.pop("softmax", "auto")
    with pytest.raises(ConfigError) as caught:
        make_config(113, preset, softmax, **settings)
    assert words in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_vocabulary_of_only_unk_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least one word"):
        make_config(1, "seed")


@pytest.mark.parametrize(
    "settings",
    [
        {"batch_size": 0},
        {"bptt": 1.5},
        {"lr": 0},
        {"lr": math.nan},
        {"lr": math.inf},
        {"clip": -1},
        {"weight_decay": -0.1},
        {"epochs": 0},
        {"max_seconds": 0},
        {"target_accuracy": 1.5},
        {"target_accuracy": 0},
        {"optimizer": "rmsprop"},
        {"lr_decay": 1.5},
        {"lr_decay": 0},
    ],
)
def test_bad_train_settings_raise_config_error(settings: dict) -> None:
    name = next(iter(settings)).replace("_", " ")
    with pytest.raises(ConfigError) as caught:
        TrainConfig(**settings).check()
    message = str(caught.value)
    assert name.split()[0] in message.replace("_", " ") and "\n" not in message


def test_train_config_defaults_and_round_trip() -> None:
    config = TrainConfig().check()
    assert (config.optimizer, config.clip, config.seed, config.device) == ("adamw", 1.0, 1, "auto")
    custom = TrainConfig(lr=1e-3, epochs=3, target_accuracy=0.9, device="cpu").check()
    assert TrainConfig.from_dict({**custom.to_dict(), "from_the_future": 1}) == custom


def test_devices() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")
    assert "cpu" in available_devices()
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto").type in ("cpu", "mps")
        with pytest.raises(ConfigError, match="not available"):
            resolve_device("cuda")
        with pytest.raises(ConfigError, match="not available"):
            resolve_device("cuda:1")
