"""Real models to place buffers for: ResNet-50/101, BERT-base, MobileNet-V2 and
a GPT-2-small-like decoder, each as an inference pass and a training step.

    from experiments.workloads import get_workload
    program = get_workload("resnet50_train").program()  # an experiments.program.Program
"""

from experiments.workloads.registry import (BATCH, MODELS, WORKLOADS, Workload, get_workload,
                                            workload_names)
from experiments.workloads.training import ModelSpec

__all__ = ["BATCH", "MODELS", "ModelSpec", "WORKLOADS", "Workload", "get_workload",
           "workload_names"]
