"""Model strings and the offline test model's arguments."""

from __future__ import annotations

import re

import pytest

from agentcron.engine.models import ModelConfigError, parse_model, sample_from_schema


def test_parse_model() -> None:
    assert parse_model("openai:gpt-4o-mini").label == "openai:gpt-4o-mini"
    assert parse_model("gpt-4o-mini/temperature=0.5/maxTokens=500").params == {"temperature": 0.5, "max_tokens": 500}
    assert parse_model("claude-sonnet-4-5").provider == "anthropic"
    assert parse_model("openai:hf.co/org/model:Q4").name == "hf.co/org/model:Q4"
    assert parse_model(" test ").label == "test"
    for bad in ("", "openai:", "foo:bar", "llama3"):
        with pytest.raises(ModelConfigError):
            parse_model(bad)
    accepted = "; accepted: openai:<model>, anthropic:<model>, test"
    for bad, message in (
        ("ollama:llama3", "unknown model provider 'ollama' in 'ollama:llama3'" + accepted),
        ("llama3", "unknown model 'llama3': write it as provider:model" + accepted),
        ("anthropic: ", "model 'anthropic:' names no model after the provider" + accepted),
        ("gpt-4o/temperature=hot", "model parameter temperature='hot' is not a number"),
    ):
        with pytest.raises(ModelConfigError, match=re.escape(message)):
            parse_model(bad)


def test_sample_from_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "integer"}, "b": {"enum": ["x", "y"]}, "c": {"type": "string"}},
        "required": ["a", "b"],
    }
    assert sample_from_schema(schema) == {"a": 1, "b": "x"}
