"""The benchmark's models: names, published sizes, output shapes, training steps."""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.workloads import BATCH, MODELS, WORKLOADS, get_workload, workload_names
from experiments.workloads import bert, decoder_lm, mobilenet, resnet, training

# Parameters of the published models (torchvision's ResNets and MobileNet-V2,
# Hugging Face's GPT-2; BERT-base's 109,482,240 less its 590,592-parameter
# pooler plus the masked-LM head's dense, layer norm and output bias).
PUBLISHED_PARAMETERS = {
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "mobilenet_v2": 3_504_872,
    "decoder_lm": 124_439_808,
    "bert_base": 109_482_240 - 590_592 + (768 * 768 + 768) + 2 * 768 + 30522,
}


def _count(tree) -> int:
  return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(tree))


def test_names_and_unknown_name():
  assert len(WORKLOADS) == 10 and workload_names()[:2] == ["resnet50_inference",
                                                           "resnet50_train"]
  assert {w.variant for w in WORKLOADS.values()} == {"inference", "train"}
  assert get_workload("mobilenet_v2_train").batch == BATCH["train"] == 8
  assert get_workload("bert_base_inference").source == (
      "experiments.workloads.bert:bert_base (inference, batch 1, sequence 128)")
  files = {os.path.basename(f) for f in get_workload("bert_base_train").source_files()}
  assert {"bert.py", "layers.py", "training.py"} <= files and "resnet.py" not in files
  with pytest.raises(ValueError, match=r"unknown workload 'resnet18'; expected one of "
                                       r"resnet50_inference, .*decoder_lm_train"):
    get_workload("resnet18")


@pytest.mark.parametrize("model", list(MODELS))
def test_full_size_parameters_and_inference_shape(model):
  """Shapes only (jax.eval_shape): nothing of full size is computed."""
  spec = MODELS[model](1)
  assert _count(training.abstract_variables(spec)["params"]) == PUBLISHED_PARAMETERS[model]
  program = get_workload(f"{model}_inference").program()
  logits = jax.eval_shape(program.fn, *program.args)
  vocab = getattr(spec.module, "vocab_size", None)
  assert logits.shape == ((1, 1000) if vocab is None else (1, 128, vocab))
  assert program.args[1:] == spec.inputs and logits.dtype == jnp.float32


TINY = {
    "resnet": lambda: resnet.resnet(2, stages=(1,), image_size=8, num_classes=10, width=4),
    "mobilenet_v2": lambda: mobilenet.mobilenet_v2(2, image_size=32, num_classes=10,
                                                   width_multiplier=0.25),
    "bert": lambda: training.token_model(
        bert.Bert(vocab_size=50, hidden=16, layers=2, heads=2, intermediate=32,
                  max_positions=16), 2, 8, 3),
    "decoder_lm": lambda: training.token_model(
        decoder_lm.DecoderLM(vocab_size=50, context=16, hidden=16, layers=2, heads=2), 2, 8, 1),
}


# The tiny models whose training step is compiled and run in the default suite
# (a ResNet, with batch norm's mutable statistics); the others' are traced.
REAL_TRAINING_STEP = ("resnet",)


def _concrete(spec: training.ModelSpec, seed: int = 0) -> tuple:
  """Random inputs of the spec's shapes (token ids and masks in range)."""
  rng = np.random.default_rng(seed)
  inputs = []
  for i, shape in enumerate(spec.inputs):
    if shape.dtype == jnp.float32:
      inputs.append(jnp.asarray(rng.standard_normal(shape.shape), jnp.float32))
    else:
      high = (spec.module.vocab_size, 2, 2)[i]
      inputs.append(jnp.asarray(rng.integers(0, high, shape.shape), jnp.int32))
  return tuple(inputs)


def _init(spec: training.ModelSpec) -> dict:
  """Random variables of the spec's shapes, drawn with numpy (compiling the
  models' own initialisers would take longer than the tests): N(0, 0.05),
  and ones for the batch-norm variances."""
  rng = np.random.default_rng(1)
  return jax.tree_util.tree_map_with_path(
      lambda path, s: jnp.ones(s.shape, s.dtype) if "var" in jax.tree_util.keystr(path)
      else jnp.asarray(0.05 * rng.standard_normal(s.shape), s.dtype),
      training.abstract_variables(spec))


def _check_step_shapes(program) -> None:
  """A training step (traced only) returns a state of the shapes it takes."""
  state, loss = jax.eval_shape(program.fn, *program.args)
  assert loss.shape == () and jax.tree.map(lambda s: s.shape, state) == jax.tree.map(
      lambda s: s.shape, program.args[0])


@pytest.mark.parametrize("name", list(TINY))
def test_tiny_forward_and_training_step(name):
  """A small configuration of each model runs: logits of the right shape, and
  one training step keeps the state's structure and changes the parameters."""
  spec = TINY[name]()
  inputs = _concrete(spec)
  variables = _init(spec)
  logits = jax.jit(lambda v, *x: spec.module.apply(v, *x, train=False))(variables, *inputs)
  assert logits.shape == spec.labels.shape + (logits.shape[-1],)
  assert logits.shape[-1] == getattr(spec.module, "vocab_size", 10)
  assert np.isfinite(np.asarray(logits)).all()

  program = training.train_program(name, spec)
  if name not in REAL_TRAINING_STEP:  # Compiling it takes 5-20 s: check the shapes only.
    _check_step_shapes(program)
    return
  params = variables["params"]
  others = {k: v for k, v in variables.items() if k != "params"}
  state = (params, others, training.optimizer().init(params))
  assert jax.tree.structure(state) == jax.tree.structure(program.args[0])
  labels = jnp.zeros(spec.labels.shape, jnp.int32)
  (new_params, new_others, _), loss = jax.jit(program.fn)(state, inputs, labels)
  assert np.isfinite(float(loss)) and loss.shape == ()
  assert jax.tree.structure(new_others) == jax.tree.structure(others)
  for old, new in zip(jax.tree.leaves(others), jax.tree.leaves(new_others)):
    assert not np.allclose(old, new)  # Batch statistics are updated.
  changed = jax.tree.leaves(jax.tree.map(lambda a, b: bool(jnp.any(a != b)), params,
                                         new_params))
  assert sum(changed) > len(changed) // 2


def test_decoder_is_causal_and_bert_masks_padding():
  spec = TINY["decoder_lm"]()
  (tokens,) = _concrete(spec)
  variables = _init(spec)
  later = tokens.at[:, 5:].set((tokens[:, 5:] + 1) % 50)
  apply = jax.jit(spec.module.apply)
  before, after = apply(variables, tokens), apply(variables, later)
  np.testing.assert_allclose(before[:, :5], after[:, :5], rtol=1e-5, atol=1e-5)
  assert not np.allclose(before[:, 5:], after[:, 5:])

  spec = TINY["bert"]()
  tokens, types, _ = _concrete(spec)
  mask = jnp.ones_like(tokens).at[:, 6:].set(0)
  variables = _init(spec)
  padded = tokens.at[:, 6:].set((tokens[:, 6:] + 1) % 50)
  apply = jax.jit(spec.module.apply)
  before, after = apply(variables, tokens, types, mask), apply(variables, padded, types, mask)
  np.testing.assert_allclose(before[:, :6], after[:, :6], rtol=1e-5, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(WORKLOADS))
def test_full_size_training_step_traces(name):
  """Each full-size program traces (shapes only); the training steps return
  a state of the shapes they take."""
  program = get_workload(name).program()
  if name.endswith("_train"):
    _check_step_shapes(program)
  else:
    jax.eval_shape(program.fn, *program.args)
