"""`fix_processor_class` and the `--size` option of the tiny checkpoint builder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.sft import STANDARD_PROCESSOR, fix_processor_class

FILES = [
    # the image-only stand-in leaks into processor_config.json: renamed
    ("processor_config.json", {"processor_class": "ImageOnlyQwen2_5_VLProcessor"},
     STANDARD_PROCESSOR),
    # ... and into tokenizer_config.json (seen in real checkpoint-N folders): renamed too
    ("tokenizer_config.json", {"processor_class": "ImageOnlyQwen2_5_VLProcessor", "x": 1},
     STANDARD_PROCESSOR),
    # a standard or foreign class name is left exactly as it is
    ("preprocessor_config.json", {"processor_class": "Qwen2_5_VLProcessor"},
     "Qwen2_5_VLProcessor"),
    ("other.json", {"processor_class": "SomethingElse"}, "SomethingElse"),
]


def test_fix_processor_class_table(tmp_path: Path) -> None:
    for name, content, _ in FILES:
        (tmp_path / name).write_text(json.dumps(content))
    (tmp_path / "list.json").write_text("[1, 2]")  # not an object: ignored, not a crash
    fix_processor_class(tmp_path)
    for name, content, want in FILES:
        data = json.loads((tmp_path / name).read_text())
        assert data["processor_class"] == want, name
        assert {k: v for k, v in data.items() if k != "processor_class"} == {
            k: v for k, v in content.items() if k != "processor_class"}
    assert json.loads((tmp_path / "list.json").read_text()) == [1, 2]


class VocabDouble:
    """The two tokenizer calls `_model_config` makes (training a BPE takes seconds)."""

    def get_vocab_size(self) -> int:
        return 722

    def token_to_id(self, token: str) -> int:
        from service.inference.tiny import SPECIAL_TOKENS

        return 700 + SPECIAL_TOKENS.index(token)


@pytest.fixture(scope="module")
def tokenizer() -> object:
    return VocabDouble()


def test_sizes_change_widths_only(tokenizer: object) -> None:
    from service.inference.tiny import _model_config

    tiny, small = _model_config(tokenizer, 4096), _model_config(tokenizer, 4096, "small")
    # the default stays the tests' and service's checkpoint: widths 64 / 2 layers
    assert (tiny.text_config.hidden_size, tiny.text_config.num_hidden_layers) == (64, 2)
    assert (small.text_config.hidden_size, small.text_config.num_hidden_layers) == (128, 4)
    # the vision tower must project into the text width
    assert small.vision_config.out_hidden_size == small.text_config.hidden_size
    assert small.text_config.vocab_size == tiny.text_config.vocab_size
    assert small.image_token_id == tiny.image_token_id


def test_unknown_size_is_refused(tokenizer: object) -> None:
    from service.inference.tiny import _model_config

    with pytest.raises(ValueError, match="unknown size 'huge'"):
        _model_config(tokenizer, 4096, "huge")
