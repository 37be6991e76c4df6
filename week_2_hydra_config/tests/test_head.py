"""The head's options: mean pooling instead of BERT's pooler, and a learning rate per layer."""

import re
from pathlib import Path

import pytest
import torch

from config_schema import ConfigError, check, load_config
from inference import ColaPredictor
from model import ColaModel
from train import train

SENTENCES = ["The cat sat on the mat today.", "Green ideas."]


def mean_pooled_logits_by_hand(model: ColaModel, sentences: list[str]) -> torch.Tensor:
    """Each sentence alone (no padding), its last-layer token vectors averaged, then the
    classifier: what mean pooling means, computed without ColaModel.forward."""
    rows = []
    for sentence in sentences:
        inputs = model.tokenizer(sentence, return_tensors="pt")
        tokens = model.model.base_model(**inputs).last_hidden_state[0]
        rows.append(model.model.classifier(tokens.mean(dim=0)))
    return torch.stack(rows)


def test_mean_pooling_averages_the_tokens_and_ignores_padding(tiny_model_dir: str) -> None:
    model = ColaModel(tiny_model_dir, pooling="mean").eval()
    batch = model.tokenizer(SENTENCES, padding=True, return_tensors="pt")
    assert batch["attention_mask"][1].sum() < batch["attention_mask"][0].sum()  # one is padded
    with torch.no_grad():
        logits = model(**batch)
        expected = mean_pooled_logits_by_hand(model, SENTENCES)
        pooler = ColaModel(tiny_model_dir, pooling="pooler").eval()
        pooler.model.load_state_dict(model.model.state_dict())
        pooler_logits = pooler(**batch)
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(logits, pooler_logits, atol=1e-3)  # the option changes the head


@pytest.mark.slow
def test_a_mean_pooling_checkpoint_predicts_with_mean_pooling(tmp_path: Path,
                                                              toy_data_dir: Path,
                                                              tiny_model_dir: str) -> None:
    run = train(load_config(f"data.path={toy_data_dir}", f"model.name={tiny_model_dir}",
                            "training.trainer.max_epochs=1", "model.pooling=mean", "logger=csv",
                            f"output_dir={tmp_path}"))
    predictor = ColaPredictor(run["checkpoint"])
    assert predictor.model.hparams.pooling == "mean"
    with torch.no_grad():
        probs = torch.softmax(mean_pooled_logits_by_hand(predictor.model, SENTENCES), dim=-1)
    for prediction, p in zip(predictor.predict(SENTENCES), probs, strict=True):
        assert abs(prediction["score"] - float(p.max())) < 1e-5


def test_each_layer_learns_at_its_own_rate(tiny_model_dir: str) -> None:
    lr = 1e-3
    model = ColaModel(tiny_model_dir, lr=lr, weight_decay=0.01, head_lr_factor=10.0,
                      layer_decay=0.5)
    assert model.model.config.num_hidden_layers == 2
    group_of = {id(p): g for g in model.parameter_groups() for p in g["params"]}
    names = dict(model.model.named_parameters())
    assert len(group_of) == len(names)  # every parameter in exactly one group

    def lr_of(name: str) -> float:
        return group_of[id(names[name])]["lr"]

    assert lr_of("classifier.weight") == pytest.approx(10 * lr)
    assert lr_of("bert.pooler.dense.weight") == pytest.approx(10 * lr)
    assert lr_of("bert.encoder.layer.1.output.dense.weight") == pytest.approx(0.5 * lr)
    assert lr_of("bert.encoder.layer.0.output.dense.weight") == pytest.approx(0.25 * lr)
    assert lr_of("bert.embeddings.word_embeddings.weight") == pytest.approx(0.125 * lr)
    assert group_of[id(names["classifier.weight"])]["weight_decay"] == 0.01
    assert group_of[id(names["classifier.bias"])]["weight_decay"] == 0.0
    assert group_of[id(names["bert.embeddings.LayerNorm.weight"])]["weight_decay"] == 0.0


def test_by_default_every_layer_learns_at_lr(tiny_model_dir: str) -> None:
    groups = ColaModel(tiny_model_dir, lr=2e-5).parameter_groups()
    assert {g["lr"] for g in groups} == {2e-5}
    assert sorted(g["weight_decay"] for g in groups) == [0.0, 0.01]


@pytest.mark.parametrize("options, message", [
    ({"pooling": "max"}, "pooling must be one of pooler, mean"),
    ({"layer_decay": 0.0}, "layer_decay in"),
    ({"layer_decay": 1.5}, "layer_decay in"),
    ({"head_lr_factor": 0.0}, "head_lr_factor must be positive"),
])
def test_a_bad_head_option_is_one_clear_error(tiny_model_dir: str, options: dict,
                                              message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ColaModel(tiny_model_dir, **options)


@pytest.mark.parametrize("override, message", [
    ("model.pooling=max", "model.pooling must be pooler or mean"),
    ("training.layer_decay=0", "training.layer_decay must be in (0, 1]"),
    ("training.head_lr_factor=-1", "training.head_lr_factor must be positive"),
])
def test_the_config_rejects_a_bad_head_option(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        check(load_config(override))
