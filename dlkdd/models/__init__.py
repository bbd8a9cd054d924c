"""Lightning modules: TeacherModule (stage 1) and DistillModule (stage 2) on a shared VideoClassifier;
EnhancerModule trains the Zero-DCE++ enhancer that can make the teacher's view; GenKD's options (feature
distillation: TeacherModule's phase 1, DistillModule's phase 2) come from dlkdd.models.genkd."""

from dlkdd.models.classifier import VideoClassifier
from dlkdd.models.distill import DistillModule
from dlkdd.models.enhancer import EnhancerModule
from dlkdd.models.genkd import FeatureModelOptions, GenKDOptions
from dlkdd.models.teacher import TeacherModule, load_teacher
from dlkdd.models.two_stream import TwoStreamModule

__all__ = [
    "DistillModule",
    "EnhancerModule",
    "FeatureModelOptions",
    "GenKDOptions",
    "TeacherModule",
    "TwoStreamModule",
    "VideoClassifier",
    "load_teacher",
]
