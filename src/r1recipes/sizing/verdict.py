"""Whether a sized recipe fits its GPUs, and when it does not, the first single change that would make it fit."""

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from r1recipes import RecipeError
from r1recipes.config.checks import TRAINERS, assign_overrides, check_overrides
from r1recipes.config.recipes import (
    EVALUATION,
    RecipeFile,
    evaluation_for,
    folder_recipes,
    producers,
    stage_files,
    start_evaluations,
)
from r1recipes.evaluation.results import EVAL
from r1recipes.sizing.estimate import (
    GIB,
    MemoryPlan,
)
from r1recipes.sizing.recipe import (
    CARDS_GIB,
    SAMPLERS,
    Hardware,
    Sized,
    disk_bytes,
    expected_time,
    memory_plan,
    missing_here,
    size,
    work_and_time,
)


def candidates(sized: Sized, plan: MemoryPlan):
    """Single changes to try when a recipe does not fit, in order: (description, overrides, hardware)."""
    s, config, cluster = sized.settings, sized.recipe.config, sized.hardware
    if sized.runner not in SAMPLERS:
        if not (s.get("activation_checkpointing") or s.get("gradient_checkpointing")):
            yield "activation_checkpointing: true", {"activation_checkpointing": True}, {}
        batch = s.int("per_device_train_batch_size", 8)
        if batch > 1:  # the recipe's own accumulation (and rollout) times the batch keep both the same
            change = {
                "per_device_train_batch_size": 1,
                "gradient_accumulation_steps": int(config.get("gradient_accumulation_steps") or 1) * batch,
            }
            if sized.runner == "grpo":
                own = config.get("steps_per_generation") or config.get("gradient_accumulation_steps") or 1
                change["steps_per_generation"] = int(own) * batch
            yield ", ".join(f"{k}: {v}" for k, v in change.items()) + " (the same batch)", change, {}  # fmt: skip
    if sized.vllm and not sized.server_gpus and not s.get("vllm_enable_sleep_mode"):
        yield "vllm_enable_sleep_mode: true", {"vllm_enable_sleep_mode": True}, {}
    share = "vllm_gpu_memory_utilization" if sized.runner == "grpo" else "gpu_memory_utilization"
    if plan.problems and (sized.vllm or s.get("backend") == "vllm") and not sized.server_gpus:
        for value in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
            if value > float(s.get(share) or 0):
                yield f"{share}: {value}", {share: value}, {}
    if sized.runner in SAMPLERS and s.get("backend") == "vllm":
        for tp in (2, 4, 8):
            if tp > s.int("tensor_parallel_size", 1):
                yield f"tensor_parallel_size: {tp}", {"tensor_parallel_size": tp}, {}
    if not sized.on_gpu:  # a CPU run: ZeRO-3 over its processes, if several; the rest are GPU changes
        if sized.gpus > 1 and sized.sharding != "zero3" and sized.runner not in SAMPLERS:
            yield "ACCELERATE=cpu_zero3", {}, {"accelerate": "cpu_zero3"}
        return
    if sized.runner not in SAMPLERS and sized.gpus > 1 and sized.sharding not in ("zero3", "fsdp"):
        yield "ACCELERATE=zero3", {}, {"accelerate": "zero3"}
    if sized.runner not in SAMPLERS:
        per_node = cluster.gpus or int(config.get("num_processes") or 1)
        for more in (2, 4, 8):
            if per_node < more:
                yield f"GPUS={more}", {}, {"gpus": more}
        for nodes in (2, 4, 8):
            total = cluster.nodes * nodes
            yield f"NODES={total} ({total} nodes of {per_node} GPU{'s' * (per_node > 1)})", {}, {"nodes": total}
    for card, gib in CARDS_GIB.items():
        if gib > cluster.gpu_memory_gib:
            yield f"GPU_MEMORY_GB={gib:g} (an {card})", {}, {"gpu_memory_gib": gib}


def suggest(sized: Sized, plan: MemoryPlan, owners: dict[str, Path]) -> str:
    """The first single change, of the candidates, with which the recipe fits (and its runner accepts)."""
    for description, settings, machine in candidates(sized, plan):
        extra = tuple(token for key, value in settings.items() for token in (f"--{key}", json.dumps(value)))
        try:
            trial = size(sized.recipe, dataclasses.replace(sized.hardware, **machine), owners, extra)
            trial_plan = memory_plan(trial)
        except RecipeError:  # the runner would refuse it (a batch that does not divide, say)
            continue
        if not trial_plan.problems and needed(trial, trial_plan) <= available(trial):
            return f"{description} (needs {needed(trial, trial_plan):.1f} GiB)"
    return "no single change: shorten the sequences (max_length, max_completion_length) or take a smaller model"


def available(sized: Sized) -> float:
    """GiB of one GPU, or of this machine's RAM for a CPU recipe."""
    if sized.on_gpu:
        return sized.hardware.gpu_memory_gib
    import psutil

    return psutil.virtual_memory().total / GIB


def needed(sized: Sized, plan: MemoryPlan) -> float:
    """GiB a GPU needs (peak, allocator slack, CUDA context); on a CPU the peak of every process sharing RAM."""
    if sized.on_gpu:
        return plan.needed
    return plan.peak * (1 + plan.slack) * sized.gpus


@dataclass
class RecipeCheck:
    """What `check` finds for one recipe."""

    sized: Sized
    plan: MemoryPlan
    work: dict
    time: dict
    disk_bytes: float
    missing: list[str] = field(default_factory=list)
    suggestion: str = ""

    @property
    def needed(self) -> float:
        return needed(self.sized, self.plan)

    @property
    def fits(self) -> bool:
        return not self.plan.problems and self.needed <= available(self.sized)

    @property
    def device(self) -> str:
        sized = self.sized
        if not sized.on_gpu:
            chosen = sized.hardware.accelerate
            why = f"ACCELERATE={chosen}, {sized.gpus} processes" if chosen else "a CPU recipe: no num_processes"
            return f"CPU, {available(sized):.1f} GiB RAM ({why})"
        launch = sized.sharding
        if sized.runner in SAMPLERS:
            backend = sized.settings.get("backend")
            tp = sized.settings.int("tensor_parallel_size", 1)
            launch = f"vLLM engines of {tp} GPU{'s' * (tp > 1)}" if backend == "vllm" else f"{backend} backend"
        server = f" + a vLLM server node of {sized.server_gpus}" if sized.server_gpus else ""
        return f"{sized.gpus} x {sized.hardware.gpu_memory_gib:g} GiB GPU, {launch}{server}"

    def as_json(self) -> dict:
        plan = self.plan
        return {
            "recipe": str(self.sized.recipe.path),
            "runner": self.sized.runner,
            "model": self.sized.model,
            "parameters": self.sized.shape.params,
            "device": self.device,
            "available_gib": round(available(self.sized), 2),
            "fits": self.fits,
            "peak_gib": round(plan.peak, 2),
            "needed_gib": round(self.needed, 2),
            "peak_phase": plan.peak_phase if plan.items else None,
            "largest_item": plan.largest().name if plan.items else None,
            "problems": plan.problems,
            "suggestion": self.suggestion,
            "items": [
                {"name": i.name, "gib": round(i.gib, 3), "phases": list(i.phases), "note": i.note} for i in plan.items
            ],  # fmt: skip
            "vllm": plan.facts,
            "work": self.work,
            "time": self.time,
            "disk_gb": round(self.disk_bytes / 1e9, 1),
            "missing": self.missing,
        }


def check_recipe(recipe: RecipeFile, hardware: Hardware, owners: dict[str, Path]) -> RecipeCheck:
    check_overrides(recipe)  # an ARGS key the runner lacks, named with its recipe (as `make pipeline` does)
    sized = size(recipe, hardware, owners)
    plan = memory_plan(sized)
    work, time = work_and_time(sized, plan, owners)
    time.update(expected_time(sized, plan, owners))
    disk = disk_bytes(sized, work)
    result = RecipeCheck(sized, plan, work, time, disk, missing_here(sized, disk))
    if not result.fits:
        result.suggestion = suggest(sized, plan, owners)
    return result


def check_folder(folder: Path, hardware: Hardware, overrides: list[str] | None = None) -> list[RecipeCheck]:
    """Every recipe of a model folder: the pipeline's in order (stages, students), then any other, then each
    evaluation recipe (ARGS are not theirs: EVAL_ARGS are)."""
    listed = folder_recipes(folder)
    paths = listed + [p for p in stage_files(folder) if p not in listed]
    owners = producers()
    shares = assign_overrides(paths, overrides or [])
    recipes = [RecipeFile.load(p, shares[p]) for p in paths]
    results = [check_recipe(recipe, hardware, owners) for recipe in recipes]
    folder_of_evaluations = str(Path(recipes[0].output_dir).parent / EVAL) if recipes else EVAL
    return results + [
        check_evaluation(path, models, folder_of_evaluations, hardware, owners)
        for path, models in evaluated(recipes).items()
    ]


def evaluated(recipes: list[RecipeFile]) -> dict[Path, list[str]]:
    """Each evaluation recipe of the folder and the models it evaluates (the pipeline's: the starting model, each
    student's own starting model and every trained stage; eval_<name>.yaml: that output, and its starting model
    when `make pipeline` evaluates that), starting models first."""
    if not recipes:
        return {}
    folder, found = recipes[0].path.parent, {}
    listed = set(folder_recipes(folder))  # read once, not once per recipe
    pipeline = [r for r in recipes if r.path in listed]
    if pipeline and (folder / EVALUATION).is_file():
        found.setdefault(folder / EVALUATION, []).append(str(pipeline[0].config.get("model_name_or_path")))
        for name, model in start_evaluations(pipeline).items():
            found.setdefault(evaluation_for(folder, name), []).append(model)
    for recipe in recipes:
        name = Path(recipe.output_dir).name
        path = evaluation_for(folder, name, specific_only=recipe not in pipeline)
        if recipe.runner in TRAINERS and path is not None:
            found.setdefault(path, []).append(recipe.output_dir)
    return found


def check_evaluation(
    path: Path, models: list[str], output: str, hardware: Hardware, owners: dict[str, Path]
) -> RecipeCheck:
    """An evaluation recipe sized for the largest model it evaluates (into `output`), its time and cost for all."""
    shapes = {model: size(RecipeFile.load(path, ["--model", model, "--output", output]), hardware, owners)
              for model in models}  # fmt: skip
    largest = max(shapes, key=lambda model: shapes[model].shape.params)
    result = check_recipe(RecipeFile.load(path, ["--model", largest, "--output", output]), hardware, owners)
    result.work["models"] = len(models)
    for figure in ("", "expected_"):  # the upper bound, then the expected figure
        if result.time.get(f"{figure}gpu_hours") is not None:
            result.time[f"{figure}gpu_hours_all"] = round(result.time[f"{figure}gpu_hours"] * len(models), 1)
            result.time[f"{figure}cost_usd_all"] = round(result.time[f"{figure}cost_usd"] * len(models), 2)
    return result
