"""Specs of the vision family, registered through the ``transferbench.tasks`` entry point.

Metadata only: this module imports nothing but :mod:`bench.api`, so that listing tasks never
pays for torch, scikit-learn or PIL. The implementation is named by ``entry_point``.
"""

from __future__ import annotations

from bench.api import MethodSpec, TaskSpec

__all__ = ["METHODS", "OPTDIGITS_CITATION", "TASKS"]

OPTDIGITS_CITATION = """@misc{alpaydin1998optdigits,
  author={Alpaydin, E. and Kaynak, C.},
  title={Optical Recognition of Handwritten Digits},
  year={1998},
  howpublished={UCI Machine Learning Repository},
  doi={10.24432/C50P49},
  url={https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits}
}"""

SYNTH_DIGITS = TaskSpec(
    id="vision/SynthDigits-v0",
    entry_point="tasks.vision.digits:SynthDigitsTask",
    summary=(
        "Digits rendered from fonts to handwritten digits: a small CNN pretrained on printed "
        "digits, reduced to 8x8 exactly as optdigits was, against one trained on a few real "
        "labels per class."
    ),
    source=(
        "digits 0-9 rendered with PIL from the TrueType fonts matplotlib ships (DejaVu, STIX, "
        "Computer Modern), randomly distorted, binarized at 32x32 and reduced to 8x8 block counts"
    ),
    target=(
        "scikit-learn's bundled UCI optdigits (1,797 real handwritten 8x8 digits): 80 per class "
        "to sample labels from, a fixed test set of the other 997"
    ),
    metric="accuracy",
    higher_is_better=True,
    budget_unit="labels per class",
    budgets=(1, 2, 5, 10, 20, 50),
    default_budget=5,
    methods=("scratch", "zero-shot", "fine-tune", "linear-probe"),
    suites=("quick", "vision"),
    needs_network=False,
    options={
        # source model (part of the source-model artifact's key)
        "source_images": 10000,
        "source_test_images": 1000,
        "source_epochs": 4,
        "source_batch_size": 128,
        "source_lr": 2e-3,
        "width": 32,
        "max_rotation": 12.0,
        "max_shear": 0.3,
        "elastic_alpha": 34.0,
        "elastic_sigma": 4.0,
        "noise": 0.1,
        # target training (the same for every method that trains)
        "target_steps": 200,
        "batch_size": 32,
        "lr": 3e-3,
        "weight_decay": 0.0,
        "eval_points": 5,
    },
    # Every code path in seconds (a few hundred source images, a handful of steps).
    smoke_options={
        "source_images": 300,
        "source_test_images": 50,
        "source_epochs": 1,
        "source_batch_size": 64,
        "width": 8,
        "target_steps": 6,
        "batch_size": 16,
        "eval_points": 3,
    },
    # Measured on 2 CPU cores. The source model (about 8 s) is built once per seed and shared;
    # it is charged to zero-shot, which runs first among the methods that use it.
    seconds_per_run={"scratch": 1.5, "zero-shot": 8.0, "fine-tune": 1.5, "linear-probe": 1.0},
    citation=OPTDIGITS_CITATION,
)

TASKS: tuple[TaskSpec, ...] = (SYNTH_DIGITS,)
METHODS: tuple[MethodSpec, ...] = ()
"""The family uses only the shared methods registered by :mod:`bench.methods`."""
