"""ResNet-50 and ResNet-101 (He et al. 2016) with bottleneck blocks, in flax.

The ImageNet configuration: 224x224x3 images (NHWC, float32), a 7x7/2 stem
and a 3x3/2 max pool, four stages of bottleneck blocks (1x1, 3x3, 1x1 with 4x
expansion; 64, 128, 256, 512 features; stride 2 in the 3x3 convolution of a
stage's first block, as in "ResNet v1.5"), batch norm after every
convolution, global average pooling and a 1000-way classifier.
ResNet-50 has (3, 4, 6, 3) blocks per stage (25.6 M parameters), ResNet-101
(3, 4, 23, 3) (44.5 M).
"""

from __future__ import annotations

import functools
from typing import Sequence

import flax.linen as nn
import jax

from experiments.workloads.training import ModelSpec, image_classifier

RESNET50_STAGES = (3, 4, 6, 3)
RESNET101_STAGES = (3, 4, 23, 3)


class Bottleneck(nn.Module):
  """1x1 -> 3x3 (strided) -> 1x1 (4x features), plus the shortcut."""
  features: int
  strides: int

  @nn.compact
  def __call__(self, x: jax.Array, train: bool) -> jax.Array:
    norm = functools.partial(nn.BatchNorm, use_running_average=not train, momentum=0.9,
                             epsilon=1e-5)
    y = nn.relu(norm()(nn.Conv(self.features, (1, 1), use_bias=False)(x)))
    y = nn.Conv(self.features, (3, 3), (self.strides, self.strides), padding=((1, 1), (1, 1)),
                use_bias=False)(y)
    y = nn.relu(norm()(y))
    # The last norm of a block starts at zero scale (Goyal et al. 2017).
    y = norm(scale_init=nn.initializers.zeros)(
        nn.Conv(4 * self.features, (1, 1), use_bias=False)(y))
    if x.shape != y.shape:
      x = norm()(nn.Conv(4 * self.features, (1, 1), (self.strides, self.strides),
                         use_bias=False)(x))
    return nn.relu(x + y)


class ResNet(nn.Module):
  """images [B, H, W, 3] -> logits [B, num_classes]."""
  stages: Sequence[int]
  num_classes: int = 1000
  width: int = 64

  @nn.compact
  def __call__(self, images: jax.Array, train: bool = False) -> jax.Array:
    x = nn.Conv(self.width, (7, 7), (2, 2), padding=((3, 3), (3, 3)), use_bias=False)(images)
    x = nn.relu(nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)(x))
    x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    for stage, blocks in enumerate(self.stages):
      for block in range(blocks):
        x = Bottleneck(self.width * 2 ** stage, 2 if stage and not block else 1)(x, train)
    return nn.Dense(self.num_classes)(x.mean(axis=(1, 2)))


def resnet(batch: int, stages: Sequence[int] = RESNET50_STAGES, image_size: int = 224,
           num_classes: int = 1000, width: int = 64) -> ModelSpec:
  """A ResNet with bottleneck blocks on `batch` images of image_size^2 pixels."""
  return image_classifier(ResNet(tuple(stages), num_classes, width), batch, image_size)


def resnet50(batch: int) -> ModelSpec:
  """ResNet-50 on 224x224 ImageNet images."""
  return resnet(batch, RESNET50_STAGES)


def resnet101(batch: int) -> ModelSpec:
  """ResNet-101 on 224x224 ImageNet images."""
  return resnet(batch, RESNET101_STAGES)
