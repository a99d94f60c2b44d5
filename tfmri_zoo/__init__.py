"""tfmri-zoo: physics-driven deep-learning MRI reconstruction for TensorFlow / Keras 3.

The package is TensorFlow-backend Keras; importing it selects that backend unless the user chose one already.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
