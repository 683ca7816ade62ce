"""A flax model as a JAX program: its inference pass, or one training step.

Every workload is a `ModelSpec` (a linen module and the shapes of its inputs)
turned into an `experiments.program.Program` of one of two variants:

* `inference`: `module.apply(variables, *inputs, train=False)`, the variables
  being arguments of the program (as a deployed model receives its weights).
* `train`: forward, backward and an optax AdamW update of the parameters, with
  softmax cross-entropy against integer labels (class ids per example, or the
  next token / masked token at every position). The state (parameters, batch
  statistics and optimizer state) is donated, so XLA updates it in place, as a
  real training loop does. No dropout: the step is deterministic and needs no
  random key.

Only shapes are built: the variables and optimizer state come from
`jax.eval_shape` as `jax.ShapeDtypeStruct`s, so compiling ResNet-101's
training step never materialises its weights.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from experiments.program import Program

LEARNING_RATE = 1e-4  # AdamW's step size in the training steps (a constant in the HLO).


@dataclasses.dataclass(frozen=True)
class ModelSpec:
  """A flax model and the shapes of one batch of its inputs.

  Attributes:
    module: a linen module whose `apply(variables, *inputs, train=...)`
      returns logits ([B, classes] or [B, S, vocab] float32).
    inputs: the model's inputs as `jax.ShapeDtypeStruct`s, batch first.
    labels: the training targets, int32 of the logits' shape less the last
      axis ([B] or [B, S]).
    mutable: the collections a training forward pass updates
      (`("batch_stats",)` for batch norm, else empty).
    inputs_note: a few words on the input size for the manifest,
      e.g. "224x224 images" or "sequence 128".
    config: the hyperparameters that decide the program (JSON-serialisable);
      part of the benchmark's fingerprint.
  """
  module: nn.Module
  inputs: tuple[jax.ShapeDtypeStruct, ...]
  labels: jax.ShapeDtypeStruct
  mutable: tuple[str, ...]
  inputs_note: str
  config: dict


def module_config(module: nn.Module) -> dict:
  """A linen module's hyperparameters (its dataclass fields), JSON-ready."""
  return {f.name: list(v) if isinstance(v := getattr(module, f.name), tuple) else v
          for f in dataclasses.fields(module) if f.name not in ("parent", "name")}


def image_classifier(module: nn.Module, batch: int, image_size: int) -> ModelSpec:
  """The spec of a batch-normalised classifier of square RGB images."""
  return ModelSpec(
      module=module,
      inputs=(jax.ShapeDtypeStruct((batch, image_size, image_size, 3), jnp.float32),),
      labels=jax.ShapeDtypeStruct((batch,), jnp.int32),
      mutable=("batch_stats",),
      inputs_note=f"{image_size}x{image_size} images",
      config={**module_config(module), "image_size": image_size})


def token_model(module: nn.Module, batch: int, length: int, num_inputs: int) -> ModelSpec:
  """The spec of a model of `num_inputs` int32 [B, S] arrays (token ids first)
  that predicts a token at every position (labels int32 [B, S])."""
  tokens = jax.ShapeDtypeStruct((batch, length), jnp.int32)
  return ModelSpec(module=module, inputs=(tokens,) * num_inputs, labels=tokens, mutable=(),
                   inputs_note=f"sequence {length}",
                   config={**module_config(module), "sequence_length": length})


def abstract_variables(spec: ModelSpec) -> dict:
  """The model's variables ({"params": ..., "batch_stats": ...}) as shapes."""
  init = functools.partial(spec.module.init, train=False)
  return jax.eval_shape(init, jax.random.key(0), *spec.inputs)


def optimizer() -> optax.GradientTransformation:
  """The training steps' optimizer: AdamW."""
  return optax.adamw(LEARNING_RATE, weight_decay=0.01)


def inference_program(name: str, spec: ModelSpec) -> Program:
  """The forward pass: fn(variables, *inputs) -> logits."""
  def forward(variables, *inputs):
    return spec.module.apply(variables, *inputs, train=False)

  return Program(name, forward, (abstract_variables(spec), *spec.inputs))


def train_program(name: str, spec: ModelSpec) -> Program:
  """One training step: fn(state, inputs, labels) -> (new state, loss).

  The state is (params, other collections, AdamW state), donated.
  """
  variables = abstract_variables(spec)
  params = variables["params"]
  others = {k: v for k, v in variables.items() if k != "params"}
  adamw = optimizer()
  state = (params, others, jax.eval_shape(adamw.init, params))

  def step(state, inputs, labels):
    params, others, opt_state = state

    def loss_fn(params):
      logits, updated = _apply_training(spec, {"params": params, **others}, inputs)
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
      return loss, updated

    (loss, updated), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = adamw.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), {**others, **updated}, opt_state), loss

  return Program(name, step, (state, spec.inputs, spec.labels), donate_argnums=(0,))


def _apply_training(spec: ModelSpec, variables: dict, inputs: tuple) -> tuple[Any, dict]:
  """(logits, updated mutable collections) of a training forward pass."""
  if not spec.mutable:
    return spec.module.apply(variables, *inputs, train=True), {}
  return spec.module.apply(variables, *inputs, train=True, mutable=list(spec.mutable))
