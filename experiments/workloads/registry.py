"""The benchmark's workloads by name: five models, each in two variants.

`resnet50`, `resnet101`, `bert_base`, `mobilenet_v2` and `decoder_lm`, each as
`<model>_inference` (batch `BATCH["inference"]` = 1, as EGRL measured) and
`<model>_train` (one AdamW training step on a batch of `BATCH["train"]` = 8
images or sequences); see `training` for what the variants compile.
"""

from __future__ import annotations

import dataclasses
import glob
import inspect
import os
from typing import Callable

from experiments.program import Program
from experiments.workloads import bert, decoder_lm, mobilenet, resnet, training
from experiments.workloads.training import ModelSpec

# Model name -> function of the batch size giving its spec.
MODELS: dict[str, Callable[[int], ModelSpec]] = {
    "resnet50": resnet.resnet50,
    "resnet101": resnet.resnet101,
    "bert_base": bert.bert_base,
    "mobilenet_v2": mobilenet.mobilenet_v2,
    "decoder_lm": decoder_lm.decoder_lm,
}
BATCH = {"inference": 1, "train": 8}  # Variant -> batch size.


@dataclasses.dataclass(frozen=True)
class Workload:
  """One model in one variant.

  Attributes:
    model: a key of `MODELS`.
    variant: "inference" or "train".
    batch: images or sequences per step.
  """
  model: str
  variant: str
  batch: int

  @property
  def name(self) -> str:
    """`<model>_<variant>`, e.g. "resnet50_train"."""
    return f"{self.model}_{self.variant}"

  def spec(self) -> ModelSpec:
    """The model and its input shapes at this batch size (builds no weights)."""
    return MODELS[self.model](self.batch)

  @property
  def source(self) -> str:
    """Where it is defined and how it is run, e.g.
    "experiments.workloads.resnet:resnet50 (train, batch 8, 224x224 images)"."""
    fn = MODELS[self.model]
    return (f"{fn.__module__}:{fn.__name__} ({self.variant}, batch {self.batch}, "
            f"{self.spec().inputs_note})")

  def config(self) -> dict:
    """What decides the program besides the code: variant, batch, model config."""
    return {"model": self.model, "variant": self.variant, "batch": self.batch,
            **self.spec().config}

  def source_files(self) -> tuple[str, ...]:
    """The files whose code decides the program: the model's own file and every
    file of this package that defines no model (`training`, `layers`, ...)."""
    own = inspect.getsourcefile(MODELS[self.model])
    models = {inspect.getsourcefile(fn) for fn in MODELS.values()}
    package = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "*.py")))
    return (own, *(path for path in package if path not in models))

  def program(self) -> Program:
    """The JAX program to compile (its arguments are `jax.ShapeDtypeStruct`s)."""
    build = training.train_program if self.variant == "train" else training.inference_program
    return build(self.name, self.spec())


WORKLOADS: dict[str, Workload] = {
    w.name: w for w in (Workload(model, variant, batch)
                        for model in MODELS for variant, batch in BATCH.items())}


def workload_names() -> list[str]:
  """Every workload name, models in `MODELS` order, inference first."""
  return list(WORKLOADS)


def get_workload(name: str) -> Workload:
  """The workload of a name; ValueError listing the known names if unknown."""
  if name not in WORKLOADS:
    raise ValueError(f"unknown workload {name!r}; expected one of {', '.join(WORKLOADS)}")
  return WORKLOADS[name]
