"""Lightning modules: TeacherModule (stage 1) and DistillModule (stage 2) on a shared VideoClassifier."""

from dlkdd.models.classifier import VideoClassifier
from dlkdd.models.distill import DistillModule
from dlkdd.models.teacher import TeacherModule, load_teacher
from dlkdd.models.two_stream import TwoStreamModule

__all__ = ["DistillModule", "TeacherModule", "TwoStreamModule", "VideoClassifier", "load_teacher"]
