"""MobileNet-V2 (Sandler et al. 2018) in flax.

The ImageNet configuration (width multiplier 1.0): 224x224x3 images (NHWC,
float32), a 3x3/2 convolution to 32 channels, 17 inverted residual blocks
(1x1 expansion by t, 3x3 depthwise, linear 1x1 projection; a residual where
the shape allows) in the stages (t, channels, blocks, stride) of
`INVERTED_RESIDUALS`, a 1x1 convolution to 1280 channels, global average
pooling and a 1000-way classifier; batch norm and ReLU6 after every
convolution but the projections (3.5 M parameters). No dropout.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax

from experiments.workloads.training import ModelSpec, image_classifier

# (expansion t, output channels c, blocks n, stride of the first block s).
INVERTED_RESIDUALS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                      (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _divisible(channels: float, divisor: int = 8) -> int:
  """Channels rounded to a multiple of `divisor`, never below 90% of them
  (the reference implementation's `_make_divisible`)."""
  rounded = max(divisor, int(channels + divisor / 2) // divisor * divisor)
  return rounded + divisor if rounded < 0.9 * channels else rounded


def _norm(train: bool) -> nn.Module:
  return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


class InvertedResidual(nn.Module):
  """1x1 expansion -> 3x3 depthwise (strided) -> linear 1x1 projection."""
  features: int
  strides: int
  expansion: int

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    hidden = x.shape[-1] * self.expansion
    y = x
    if self.expansion != 1:
      y = nn.relu6(_norm(train)(nn.Conv(hidden, (1, 1), use_bias=False)(y)))
    y = nn.Conv(hidden, (3, 3), (self.strides, self.strides), padding=((1, 1), (1, 1)),
                feature_group_count=hidden, use_bias=False)(y)
    y = nn.relu6(_norm(train)(y))
    y = _norm(train)(nn.Conv(self.features, (1, 1), use_bias=False)(y))
    return x + y if x.shape == y.shape else y


class MobileNetV2(nn.Module):
  """images [B, H, W, 3] -> logits [B, num_classes]."""
  num_classes: int = 1000
  width_multiplier: float = 1.0

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    conv = functools.partial(nn.Conv, use_bias=False)
    x = conv(_divisible(32 * self.width_multiplier), (3, 3), (2, 2),
             padding=((1, 1), (1, 1)))(images)
    x = nn.relu6(_norm(train)(x))
    for expansion, channels, blocks, stride in INVERTED_RESIDUALS:
      for block in range(blocks):
        x = InvertedResidual(_divisible(channels * self.width_multiplier),
                             stride if block == 0 else 1, expansion)(x, train)
    last = _divisible(1280 * max(1.0, self.width_multiplier))
    x = nn.relu6(_norm(train)(conv(last, (1, 1))(x)))
    return nn.Dense(self.num_classes)(x.mean(axis=(1, 2)))


def mobilenet_v2(batch: int, image_size: int = 224, num_classes: int = 1000,
                 width_multiplier: float = 1.0) -> ModelSpec:
  """MobileNet-V2 on `batch` images of image_size^2 pixels (ImageNet: 224)."""
  return image_classifier(MobileNetV2(num_classes, width_multiplier), batch, image_size)
