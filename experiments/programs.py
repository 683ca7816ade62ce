"""A catalogue of small JAX programs of different kinds.

Each entry builds a `Program`: a function, example arguments and the arguments it
donates. They exercise what memory planning meets in real programs (loops,
conditionals, rematerialisation, gradients, convolutions, attention, in-place
updates, narrow types, tuple outputs, donated buffers) and are what the tests
compile to compare `hlo_tools` with XLA, and what the demo and benchmarks use.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

from experiments import alphatensor_programs
from experiments.program import Program


def _keys(n: int, seed: int = 0):
  return jax.random.split(jax.random.key(seed), n)


def scan_rnn() -> Program:
  """An RNN over 6 steps with `lax.scan`, stacking its outputs."""
  k = _keys(2)
  def fn(h, w):
    def body(c, _):
      c = jnp.tanh(c @ w)
      return c, c.sum(axis=1)
    return jax.lax.scan(body, h, None, length=6)
  return Program("scan_rnn", fn, (jax.random.normal(k[0], (16, 64)),
                                  jax.random.normal(k[1], (64, 64))))


def while_loop() -> Program:
  """A `lax.while_loop` with a data-dependent trip count."""
  def fn(x):
    def cond(c):
      return c[1] < 100.0
    def body(c):
      v, s = c
      v = v * 1.5 + 1.0
      return v, s + v.sum()
    return jax.lax.while_loop(cond, body, (x, jnp.float32(0)))
  return Program("while_loop", fn, (jnp.ones((32, 32)),))


def cond_branches() -> Program:
  """`lax.cond` with two branches of different cost."""
  def fn(p, x, w):
    return jax.lax.cond(p, lambda: jnp.sin(x @ w), lambda: x * 2.0)
  k = _keys(2)
  return Program("cond_branches", fn, (jnp.array(True),
                                       jax.random.normal(k[0], (32, 32)),
                                       jax.random.normal(k[1], (32, 32))))


def _mlp_loss(params, x, y):
  h = x
  for w in params[:-1]:
    h = jax.nn.relu(h @ w)
  return jnp.mean((h @ params[-1] - y) ** 2)


def remat_mlp() -> Program:
  """The gradient of a 4-layer MLP whose layers are rematerialised."""
  k = _keys(6)
  params = [jax.random.normal(k[i], (64, 64)) * 0.1 for i in range(4)]
  loss = jax.checkpoint(_mlp_loss)
  return Program("remat_mlp", jax.grad(loss), (params,
                                               jax.random.normal(k[4], (32, 64)),
                                               jax.random.normal(k[5], (32, 64))))


def mlp_train_step() -> Program:
  """A training step of a 3-layer MLP: loss, gradient and an SGD update."""
  k = _keys(5)
  params = [jax.random.normal(k[i], (128, 128)) * 0.1 for i in range(3)]
  def fn(params, x, y):
    loss, grads = jax.value_and_grad(_mlp_loss)(params, x, y)
    return [p - 0.01 * g for p, g in zip(params, grads)], loss
  return Program("mlp_train_step", fn,
                 (params, jax.random.normal(k[3], (64, 128)),
                  jax.random.normal(k[4], (64, 128))), donate_argnums=(0,))


def conv_net() -> Program:
  """Two convolutions, a pooling and a dense head, with its gradient."""
  k = _keys(4)
  def loss(params, x):
    w1, w2, w3 = params
    dn = ("NHWC", "HWIO", "NHWC")
    h = jax.lax.conv_general_dilated(x, w1, (1, 1), "SAME", dimension_numbers=dn)
    h = jax.nn.relu(h)
    h = jax.lax.conv_general_dilated(h, w2, (2, 2), "VALID", dimension_numbers=dn)
    h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1),
                              (1, 2, 2, 1), "VALID")
    return jnp.sum(h.reshape(h.shape[0], -1) @ w3)
  params = (jax.random.normal(k[0], (3, 3, 3, 8)),
            jax.random.normal(k[1], (3, 3, 8, 16)),
            jax.random.normal(k[2], (3 * 3 * 16, 10)))
  return Program("conv_net", jax.grad(loss),
                 (params, jax.random.normal(k[3], (2, 16, 16, 3))))


def attention() -> Program:
  """Multi-head self-attention with softmax, forward only."""
  k = _keys(4)
  def fn(x, wq, wk, wv):
    b, t, d = x.shape
    h = 4
    q = (x @ wq).reshape(b, t, h, d // h)
    kk = (x @ wk).reshape(b, t, h, d // h)
    v = (x @ wv).reshape(b, t, h, d // h)
    s = jnp.einsum("bqhd,bkhd->bhqk", q, kk) / jnp.sqrt(d // h)
    p = jax.nn.softmax(s, axis=-1)
    return jnp.einsum("bhqk,bkhd->bqhd", p, v).reshape(b, t, d)
  return Program("attention", fn, (jax.random.normal(k[0], (2, 32, 64)),
                                   *(jax.random.normal(k[i], (64, 64))
                                     for i in range(1, 4))))


def dus_loop() -> Program:
  """A `fori_loop` writing rows into a buffer with dynamic-update-slice."""
  def fn(x):
    out = jnp.zeros((16, 128))
    def body(i, out):
      row = jnp.sin(x[i] * i)
      return jax.lax.dynamic_update_slice(out, row[None], (i, 0))
    return jax.lax.fori_loop(0, 16, body, out)
  return Program("dus_loop", fn, (jnp.ones((16, 128)),))


def bf16_matmul() -> Program:
  """A bf16 matmul chain with an f32 accumulation."""
  k = _keys(3)
  def fn(a, b, c):
    h = jnp.dot(a, b, preferred_element_type=jnp.float32)
    return (h.astype(jnp.bfloat16) @ c).astype(jnp.float32).sum(axis=0)
  return Program("bf16_matmul", fn,
                 tuple(jax.random.normal(k[i], (64, 64)).astype(jnp.bfloat16)
                       for i in range(3)))


def int8_and_pred() -> Program:
  """int8 arithmetic, comparisons to pred masks and a select."""
  def fn(a, b, mask):
    s = a.astype(jnp.int32) * b.astype(jnp.int32)
    m = jnp.logical_and(mask, s > 0)
    return jnp.where(m, s, -s).astype(jnp.int8), m
  k = _keys(3)
  return Program("int8_and_pred", fn,
                 (jax.random.randint(k[0], (64, 64), -100, 100, jnp.int8),
                  jax.random.randint(k[1], (64, 64), -100, 100, jnp.int8),
                  jax.random.bernoulli(k[2], 0.5, (64, 64))))


def tuple_outputs() -> Program:
  """Several outputs of different shapes, one of them an input passed through."""
  def fn(x, y):
    return x, x @ y, jnp.exp(y).sum(), (x + 1.0, y.T)
  k = _keys(2)
  return Program("tuple_outputs", fn, (jax.random.normal(k[0], (32, 48)),
                                       jax.random.normal(k[1], (48, 32))))


def donated_update() -> Program:
  """An optimiser-like update of donated state (input-output aliasing)."""
  def fn(state, grad):
    m, v, p = state
    m = 0.9 * m + 0.1 * grad
    v = 0.99 * v + 0.01 * grad * grad
    p = p - 0.001 * m / (jnp.sqrt(v) + 1e-8)
    return (m, v, p)
  z = jnp.zeros((128, 128))
  return Program("donated_update", fn, ((z, z + 1.0, z + 2.0),
                                        jnp.ones((128, 128))),
                 donate_argnums=(0,))


def transformer_train_step(layers: int = 2, d_model: int = 64, seq: int = 32,
                           batch: int = 4, vocab: int = 256) -> Program:
  """A decoder-only transformer's training step (loss, grad, SGD), in plain JAX."""
  k = iter(_keys(4 + 6 * layers, seed=1))
  def dense(shape):
    return jax.random.normal(next(k), shape) * 0.02
  params = {
      "embed": dense((vocab, d_model)),
      "layers": [{"wq": dense((d_model, d_model)), "wk": dense((d_model, d_model)),
                  "wv": dense((d_model, d_model)), "wo": dense((d_model, d_model)),
                  "w1": dense((d_model, 4 * d_model)),
                  "w2": dense((4 * d_model, d_model))} for _ in range(layers)],
  }
  tokens = jax.random.randint(next(k), (batch, seq), 0, vocab)

  def norm(x):
    return (x - x.mean(-1, keepdims=True)) * jax.lax.rsqrt(x.var(-1, keepdims=True) + 1e-5)

  def loss(params, tokens):
    x = params["embed"][tokens]
    heads = 4
    mask = jnp.tril(jnp.ones((seq, seq), bool))
    for layer in params["layers"]:
      h = norm(x)
      q, kk, v = (
          (h @ layer[w]).reshape(batch, seq, heads, -1) for w in ("wq", "wk", "wv"))
      s = jnp.einsum("bqhd,bkhd->bhqk", q, kk) / jnp.sqrt(q.shape[-1])
      s = jnp.where(mask, s, -1e9)
      a = jnp.einsum("bhqk,bkhd->bqhd", jax.nn.softmax(s), v)
      x = x + a.reshape(batch, seq, d_model) @ layer["wo"]
      x = x + jax.nn.gelu(norm(x) @ layer["w1"]) @ layer["w2"]
    logits = norm(x) @ params["embed"].T
    logp = jax.nn.log_softmax(logits[:, :-1])
    return -jnp.mean(jnp.take_along_axis(logp, tokens[:, 1:, None], -1))

  def step(params, tokens):
    value, grads = jax.value_and_grad(loss)(params, tokens)
    return jax.tree.map(lambda p, g: p - 1e-3 * g, params, grads), value

  return Program("transformer_train_step", step, (params, tokens),
                 donate_argnums=(0,))


def resnet_train_step(blocks_per_stage: int = 1, width: int = 16,
                      image: int = 32, batch: int = 4) -> Program:
  """A flax ResNet's training step: batch norm, residual blocks, optax SGD."""
  import flax.linen as nn
  import optax

  class Block(nn.Module):
    features: int
    stride: int

    @nn.compact
    def __call__(self, x, train: bool):
      norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9)
      y = nn.Conv(self.features, (3, 3), (self.stride, self.stride),
                  use_bias=False)(x)
      y = nn.relu(norm()(y))
      y = norm()(nn.Conv(self.features, (3, 3), use_bias=False)(y))
      if x.shape != y.shape:
        x = norm()(nn.Conv(self.features, (1, 1), (self.stride, self.stride),
                           use_bias=False)(x))
      return nn.relu(x + y)

  class ResNet(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = True):
      x = nn.relu(nn.BatchNorm(use_running_average=not train)(
          nn.Conv(width, (3, 3), use_bias=False)(x)))
      for stage in range(3):
        for b in range(blocks_per_stage):
          x = Block(width * 2 ** stage, 2 if stage and not b else 1)(x, train)
      return nn.Dense(10)(x.mean(axis=(1, 2)))

  model = ResNet()
  k = _keys(3)
  images = jax.random.normal(k[0], (batch, image, image, 3))
  labels = jax.random.randint(k[1], (batch,), 0, 10)
  variables = model.init(k[2], images)
  optimizer = optax.sgd(0.1, momentum=0.9)
  state = (variables["params"], variables["batch_stats"],
           optimizer.init(variables["params"]))

  def step(state, images, labels):
    params, batch_stats, opt_state = state

    def loss_fn(params):
      logits, updates = model.apply({"params": params, "batch_stats": batch_stats},
                                    images, mutable=["batch_stats"])
      loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
      return loss, updates["batch_stats"]

    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), batch_stats, opt_state), loss

  return Program("resnet_train_step", step, (state, images, labels),
                 donate_argnums=(0,))


def strassen_matmul(size: int = 256, levels: int = 2) -> Program:
  """Strassen's algorithm (7 block products instead of 8), recursed `levels`
  times, down to `jnp.dot` on the smallest blocks."""
  k = _keys(2)

  def strassen(a, b, depth):
    if depth == 0:
      return a @ b
    h = a.shape[0] // 2
    a11, a12, a21, a22 = a[:h, :h], a[:h, h:], a[h:, :h], a[h:, h:]
    b11, b12, b21, b22 = b[:h, :h], b[:h, h:], b[h:, :h], b[h:, h:]
    m1 = strassen(a11 + a22, b11 + b22, depth - 1)
    m2 = strassen(a21 + a22, b11, depth - 1)
    m3 = strassen(a11, b12 - b22, depth - 1)
    m4 = strassen(a22, b21 - b11, depth - 1)
    m5 = strassen(a11 + a12, b22, depth - 1)
    m6 = strassen(a21 - a11, b11 + b12, depth - 1)
    m7 = strassen(a12 - a22, b21 + b22, depth - 1)
    top = jnp.concatenate([m1 + m4 - m5 + m7, m3 + m5], axis=1)
    bottom = jnp.concatenate([m2 + m4, m1 - m2 + m3 + m6], axis=1)
    return jnp.concatenate([top, bottom], axis=0)

  return Program("strassen_matmul", lambda a, b: strassen(a, b, levels),
                 (jax.random.normal(k[0], (size, size)),
                  jax.random.normal(k[1], (size, size))))


def alphatensor_matmul() -> Program:
  """AlphaTensor's rank-49 4x4x4 factorization, one level, 256 x 256 f32."""
  return dataclasses.replace(alphatensor_programs.program("4,4,4", levels=1, size=256),
                             name="alphatensor_matmul")


# Name -> builder. Builders run JAX only when called.
PROGRAMS: dict[str, Callable[[], Program]] = {
    f.__name__: f for f in (
        scan_rnn, while_loop, cond_branches, remat_mlp, mlp_train_step, conv_net,
        attention, dus_loop, bf16_matmul, int8_and_pred, tuple_outputs,
        donated_update, transformer_train_step, resnet_train_step,
        strassen_matmul, alphatensor_matmul)
}


def get_program(name: str) -> Program:
  """The program of a catalogue name; ValueError naming the choices if unknown."""
  if name not in PROGRAMS:
    raise ValueError(f"unknown program {name!r}; expected one of "
                     f"{', '.join(sorted(PROGRAMS))}")
  return PROGRAMS[name]()
