"""What the real tier loads from the hub, as plain data: image sets, backbones and the facts checked before a run.

Kept apart from :mod:`tasks.vision.hub` (which imports torch) so that the plan-time check and
``bench check-real`` (:mod:`tasks.vision.checks`) can read it without paying for torch,
transformers or datasets.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.hub import is_commit
from tasks.vision.specs import REAL_DATA_CITATIONS

__all__ = ["HUB_DATASETS", "KNOWN_BACKBONES", "SUPPORTED_MODEL_TYPES", "HubDataset", "default_revision"]

SUPPORTED_MODEL_TYPES = ("vit", "dinov2", "resnet", "convnext")
"""``config.model_type`` values that :func:`~tasks.vision.hub.load_backbone` knows how to cut into units."""

KNOWN_BACKBONES: dict[str, str] = {
    "google/vit-base-patch16-224-in21k": "main",
    "microsoft/resnet-50": "main",
    "facebook/dinov2-small": "main",
    "facebook/convnext-tiny-224": "refs/pr/4",
}
"""Hub checkpoints of each supported family, and the revision loaded when the ``revision`` option is empty.

Every one must ship ``model.safetensors``: weights are never loaded from pickle. The main branches
of the first three do, each through a merged pull request (ViT #6 and ResNet #4 by SFconvertbot,
DINOv2 #2 "Upload safetensors version"). ``facebook/convnext-tiny-224``'s main branch has only ``pytorch_model.bin``
(and TensorFlow weights); its pull request ``refs/pr/4`` ("Adding `safetensors` variant of this
model" by SFconvertbot, commit 754ee4e, 29 June 2023, never merged) adds a ``model.safetensors``
converted from that same ``pytorch_model.bin``, so it is loaded instead. A pull-request ref can
move; the run records the commit it resolved to, and ``--set options.revision=<commit>`` pins it.
"""


def default_revision(model: str) -> str:
    """The revision loaded for hub id ``model`` when no ``revision`` option is given."""
    return KNOWN_BACKBONES.get(model, "main")


@dataclass(frozen=True)
class HubDataset:
    """Where a real-tier image set lives on the hub, how its splits and columns are named, and what it holds."""

    key: str
    """The name tasks use (``dataset`` option)."""
    repo: str
    """Hub id, or a local directory with the repository's files."""
    revision: str
    """The commit loaded; ``main`` only where none could be pinned yet (the record keeps it)."""
    train_split: str
    """The split labels are drawn from."""
    test_split: str
    """The split scored on."""
    image_column: str = "image"
    label_column: str = "label"
    config: str | None = None
    """The repository's configuration (``name`` of ``load_dataset``); None: its only or default one."""
    citation: str = ""
    """BibTeX of the dataset's paper (the task's own, :data:`tasks.vision.specs.REAL_DATA_CITATIONS`)."""
    num_classes: int | None = None
    """Classes of the label column at ``revision``; None where not established."""
    split_sizes: tuple[int, int] | None = None
    """Images in the (train, test) splits at ``revision``, as its card declares them; None where not established."""
    smallest_class: int | None = None
    """Images of the smallest class of the training split at ``revision``: the largest labels-per-class
    budget it can give. Only where established (the card does not declare it, so ``bench check-real``
    cannot check it); None leaves an impossible budget to the run's own one-line error."""

    @property
    def pinned(self) -> bool:
        """Whether ``revision`` is a full commit hash (an immutable snapshot)."""
        return is_commit(self.revision)


HUB_DATASETS: dict[str, HubDataset] = {d.key: d for d in (
    # Revisions are the commits other pinned code loads (MTEB's task metadata for flowers, DTD and
    # CIFAR-10; pinned download scripts for EuroSAT and beans). Pets: the commit that uploaded the
    # parquet shards main still serves (later commits only edit the card text).
    HubDataset("flowers102", "nelorth/oxford-flowers", "a37b1891609c0376fa81eced756e7863e1bd873b", "train", "test",
               citation=REAL_DATA_CITATIONS["flowers102"], num_classes=102, split_sizes=(7169, 1020),
               smallest_class=40),
    HubDataset("pets", "timm/oxford-iiit-pet", "10b688881011725fa2fa3d856a47536c9a7e6968", "train", "test",
               citation=REAL_DATA_CITATIONS["pets"], num_classes=37, split_sizes=(3680, 3669)),
    HubDataset("dtd", "tanganke/dtd", "d2afa97d9f335b1a6b3b09c637aef667f98f966e", "train", "test",
               citation=REAL_DATA_CITATIONS["dtd"], num_classes=47, split_sizes=(3760, 1880)),
    HubDataset("eurosat", "tanganke/eurosat", "43750fc422c7fbd4289e2df3f7473617a5937acc", "train", "test",
               citation=REAL_DATA_CITATIONS["eurosat"], num_classes=10),
    HubDataset("cifar10", "uoft-cs/cifar10", "0b2714987fa478483af9968de7c934580d0bb9a2", "train", "test",
               image_column="img", citation=REAL_DATA_CITATIONS["cifar10"], num_classes=10, split_sizes=(50000, 10000),
               smallest_class=5000),
    HubDataset("beans", "AI-Lab-Makerere/beans", "27aa014ce09b193e1a6f58112d4a66e0eddb69c5", "train", "test",
               label_column="labels", citation=REAL_DATA_CITATIONS["beans"], num_classes=3, split_sizes=(1034, 128)),
)}
"""The real tier's image sets by key. Each is a parquet repository (no loading script).

Facts: split sizes as the pinned cards declare them (flowers 7,169 / 1,020, pets 3,680 / 3,669,
DTD 3,760 / 1,880, CIFAR-10 50,000 / 10,000, beans 1,034 / 128); the smallest training class of
flowers (40 images) and CIFAR-10 (5,000: the set is balanced). The other sets' smallest classes
are not established here, and all of them hold more than the largest budget (50) as far as their
published sizes show."""
