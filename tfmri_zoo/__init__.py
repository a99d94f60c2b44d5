"""tfmri-zoo: physics-driven deep-learning MRI reconstruction for TensorFlow / Keras 3.

The package is TensorFlow-backend Keras; importing it selects that backend unless the user chose one already.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

# Importing the package registers every layer, loss and model with Keras (so `keras.saving.load_model(...,
# safe_mode=True)` works after `import tfmri_zoo`) and makes the subpackages available as attributes.
from tfmri_zoo import data, export, layers, metrics, models, physics, recon, training  # noqa: E402,F401
