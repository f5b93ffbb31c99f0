"""The method names every family shares, with what they mean and where they come from.

Families implement these for their own tasks and may register further methods of their own.
"""

from __future__ import annotations

from bench.api import MethodSpec

__all__ = ["METHODS"]

METHODS = (
    MethodSpec(
        "scratch",
        "scratch",
        "The baseline: the target model from random initialization, trained on the target budget only.",
    ),
    MethodSpec(
        "zero-shot",
        "transfer",
        "Trained on the source only and evaluated on the target with no target training.",
    ),
    MethodSpec(
        "fine-tune",
        "transfer",
        "Initialized from the source model, then all weights trained on the target budget.",
        citation="""@inproceedings{yosinski2014transferable,
  title={How transferable are features in deep neural networks?},
  author={Yosinski, Jason and Clune, Jeff and Bengio, Yoshua and Lipson, Hod},
  booktitle={Advances in Neural Information Processing Systems},
  volume={27},
  year={2014}
}""",
    ),
    MethodSpec(
        "linear-probe",
        "transfer",
        "The source model frozen as a feature extractor; only a new linear head is trained on the target.",
        citation="""@inproceedings{kornblith2019better,
  title={Do Better ImageNet Models Transfer Better?},
  author={Kornblith, Simon and Shlens, Jonathon and Le, Quoc V.},
  booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition},
  pages={2661--2671},
  year={2019}
}""",
    ),
    MethodSpec(
        "lora",
        "transfer",
        "Low-rank adapters (peft) on the pretrained model's attention projections or 1x1 convolutions; adapters "
        "and a new head train, the pretrained weights stay frozen.",
        citation="""@inproceedings{hu2022lora,
  title={LoRA: Low-Rank Adaptation of Large Language Models},
  author={Hu, Edward J. and Shen, Yelong and Wallis, Phillip and Allen-Zhu, Zeyuan and Li, Yuanzhi and Wang, Shean
    and Wang, Lu and Chen, Weizhu},
  booktitle={International Conference on Learning Representations},
  year={2022}
}""",
    ),
    MethodSpec(
        "oracle",
        "reference",
        "Trained on the target with the full source budget: an upper reference, shown and never ranked.",
    ),
)
