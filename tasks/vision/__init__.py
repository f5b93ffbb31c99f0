"""The vision family: image classification tasks where a source domain is meant to help a target.

Only :mod:`tasks.vision.specs` is imported at discovery time; implementations such as
:mod:`tasks.vision.digits` import torch and are loaded by the harness when a run needs them.
"""
