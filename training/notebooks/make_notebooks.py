"""Writes the Colab notebooks of this folder (``python training/notebooks/make_notebooks.py``).

The notebooks are generated so that their shared cells (install, GPU check, scale switch, TensorBoard) stay
identical; edit this file, run it, and commit the ``.ipynb`` files it writes.
"""
import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))

INSTALL = '''\
# Colab / fresh machine: install tfmri-zoo from its repository. Skipped when the package is importable already
# (a local clone installed with `pip install -e ".[dev]"`, or CI), so this cell never runs pip there.
import os
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO_URL = "https://github.com/YOUR-ORG/tfmri-zoo"  # placeholder: the repository you use (see README.md here)
try:
    import tfmri_zoo  # noqa: F401
except ImportError:
    %pip install -q "tfmri-zoo[notebooks,serving] @ git+{REPO_URL}"
    import tfmri_zoo  # noqa: F401'''

SETUP = '''\
# Scale switch: "tiny" (CI: 32x32, 4 coils, a few steps, seconds) or "full" (realistic sizes; use a GPU runtime).
import os
import tensorflow as tf
import keras

SCALE = os.environ.get("TFMRI_ZOO_NOTEBOOK_SCALE", "full")
assert SCALE in ("tiny", "full"), SCALE
TINY = SCALE == "tiny"
# TensorBoard is shown only in a notebook front end at full scale (never in the headless tests).
SHOW_TENSORBOARD = not TINY and os.environ.get("TFMRI_ZOO_NOTEBOOK_HEADLESS") is None
GPUS = tf.config.list_physical_devices("GPU")
print(f"scale: {SCALE}; TensorFlow {tf.__version__}, Keras {keras.__version__}; GPUs: {GPUS or 'none (CPU)'}")
if not GPUS and not TINY:
    print("No GPU: in Colab choose Runtime > Change runtime type > GPU, or set TFMRI_ZOO_NOTEBOOK_SCALE=tiny.")'''


def tensorboard(logdir_expr):
    return (f'''# TensorBoard (loss, metrics, learning rate and image panels written by tfmri_zoo.training.train).
if SHOW_TENSORBOARD:
    LOG_DIR = {logdir_expr}
    %load_ext tensorboard
    %tensorboard --logdir {{LOG_DIR}}
else:
    print("TensorBoard skipped (tiny/headless run); logs are in", {logdir_expr})''')


def header(title, text):
    return [new_markdown_cell(f"# {title}\n\n{text}"), new_code_cell(INSTALL), new_code_cell(SETUP)]


# ----------------------------------------------------------------------------------------------- 01 quickstart
def quickstart():
    cells = header("tfmri-zoo quickstart: classical vs learned reconstruction on realistic brain data", """\
The package's main job (`tfmri-zoo quickstart`, `tfmri_zoo.training.quickstart.run`): it generates brain data from
the MNI ICBM152 template (random contrast, deformation, coils, noise; ESPIRiT maps), fine-tunes the shipped MoDL
weights (`models.get("modl", weights="brain")`, review Eq. 21) and compares it with zero-filled, CG-SENSE and the
BART-strength ℓ1-wavelet (λ of each baseline chosen on the validation subjects) at R = 4 and R = 8 on held-out test
subjects. It writes `metrics.json`, `figure.png` and a TF-Serving SavedModel. Full scale: 128×128, 8 coils, 100
fine-tuning steps (about 15 minutes on 2 CPU cores, faster on a GPU).""")
    cells += [
        new_code_cell('''\
from tfmri_zoo.training import quickstart

OUT = "runs/01_quickstart"
if TINY:
    CONFIG = dict(weights=None, steps=2, batch_size=2, shape=(32, 32), coils=4, num_slices=2,
                  splits={"train": 1, "val": 1, "test": 1},
                  lam_grid={"sense": [1e-2], "l1_wavelet": [1e-3]}, classical_iterations={"l1_wavelet": 10},
                  iterations=2, cg_iterations=2, regularizer={"name": "unet", "filters": 4, "depth": 1})
else:
    CONFIG = dict()  # the main job's defaults: shipped 'brain' weights fine-tuned, 128x128, 8 coils
summary = quickstart.run(OUT, **CONFIG)
print(summary["training"])'''),
        new_markdown_cell("Reconstructions of one test slice (magnitudes, each row one acceleration):"),
        new_code_cell('''\
from IPython.display import Image, display

display(Image(filename=summary["figure"]))'''),
        new_markdown_cell("Metrics on the held-out test volumes (fastMRI SSIM / PSNR / NMSE on magnitudes, "
                          "averaged over volumes):"),
        new_code_cell('''\
rows = ["| R | method | SSIM | PSNR (dB) | NMSE | λ | s/slice |", "|---|---|---|---|---|---|---|"]
for acc, methods in summary["results"].items():
    for name, s in methods.items():
        lam = f"{s['lam']:g}" if "lam" in s else ""
        rows.append(f"| {acc} | {name} | {s['ssim']:.4f} | {s['psnr']:.2f} | {s['nmse']:.4f} | {lam} "
                    f"| {s['seconds_per_slice']:.3f} |")
table = "\\n".join(rows)
print(table)
try:
    from IPython.display import Markdown
    display(Markdown(table))
except ImportError:
    pass
print(f"model: {summary['model']} ({summary['parameters']} parameters), {summary['training']}; "
      f"SavedModel: {summary['export']}")'''),
        new_markdown_cell("""\
`metrics.json` also holds the margins of the learned model over ℓ1-wavelet and CG-SENSE, with the worst test slice
(see the repository README for the measured full-scale numbers); the tiny CI run trains a tiny model from scratch
for two steps and proves nothing about quality. The SavedModel under `runs/01_quickstart/export/` is served as shown
in `04_export_and_serve.ipynb`."""),
    ]
    return cells


# --------------------------------------------------------------------------------------------- 02 fastMRI TFDS
def fastmri_tfds():
    cells = header("Training MoDL / E2E-VarNet on fastMRI through TFDS (`manual_dir`)", """\
fastMRI needs a licence (https://fastmri.med.nyu.edu), so nothing is downloaded here: put the extracted HDF5 files
under `MANUAL_DIR` as `knee/multicoil_train/*.h5`, `knee/multicoil_val/*.h5` (brain: `brain/multicoil_*`), and the
zoo's TFDS builder `tfmri_fastmri/knee_multicoil` reads them. At tiny scale (CI) a fake `manual_dir` is written
from synthetic volumes in the fastMRI schema (`tfmri_zoo.data.write_synthetic_dataset`, which uses the package's
fastMRI writer).

The TFDS examples hold raw k-space and the RSS target but no coil maps, so the model here is the E2E-VarNet, which
estimates its sensitivities from the ACS lines. For MoDL, which needs maps, read the same files with
`tfmri_zoo.data.make_dataset(files, mask_func, sensitivities="espirit", crop=(320, 320))` (ESPIRiT maps, cached) and
set `MODEL = "modl"` below — the training and evaluation cells are the same.""")
    cells += [
        new_code_cell('''\
import glob
import tensorflow_datasets as tfds
import tfmri_zoo.data  # registers the tfmri_fastmri / tfmri_synthetic builders

WORK = "runs/02_fastmri"
DATA_DIR = os.path.join(WORK, "tfds")       # where TFDS writes its prepared copy
if TINY:
    MANUAL_DIR = os.path.join(WORK, "fake_manual_dir")
    for split, seed in (("train", 1), ("val", 2)):
        tfmri_zoo.data.write_synthetic_dataset(os.path.join(MANUAL_DIR, "knee", f"multicoil_{split}"),
                                               num_files=1, num_slices=2, shape=(32, 32), coils=4, seed=seed)
    CROP = None                             # synthetic data has no readout oversampling
else:
    MANUAL_DIR = os.environ.get("FASTMRI_MANUAL_DIR", "/content/drive/MyDrive/fastmri")  # your download
    CROP = (320, 320)                       # knee: remove the 2x readout oversampling (fastMRI's target size)
print(sorted(glob.glob(os.path.join(MANUAL_DIR, "**", "*.h5"), recursive=True))[:4])

download_config = tfds.download.DownloadConfig(manual_dir=MANUAL_DIR)
builder = tfds.builder("tfmri_fastmri/knee_multicoil", data_dir=DATA_DIR)
builder.download_and_prepare(download_config=download_config)
print(builder.info.splits)'''),
        new_markdown_cell("""\
**Pipeline.** Each TFDS example (`kspace [C, H, W]`, `target [h, w]`) becomes the zoo's model inputs: optional
centre crop in image space, a fastMRI random line mask (R = 4, 8 % centre; `tfmri_zoo.physics.sampling`), masked
k-space, and the RSS magnitude target. Scale normalisation lives inside the model, so raw k-space is fed."""),
        new_code_cell('''\
import numpy as np
from tfmri_zoo.data.transforms import center_crop
from tfmri_zoo.physics.fft import fft2c, ifft2c
from tfmri_zoo.physics.sampling import RandomMaskFunc

ACCELERATION, CENTER_FRACTION = 4, 0.08
BATCH = 2 if TINY else 1
mask_func = RandomMaskFunc([CENTER_FRACTION], [ACCELERATION], seed=0)

def sample_mask(width, seed):
    return mask_func((int(width),), seed=None if seed < 0 else int(seed))[0].astype(np.float32)

def to_model_inputs(example, validation):
    kspace = example["kspace"]                                    # complex64 [C, H, W]
    if CROP is not None:
        kspace = fft2c(center_crop(ifft2c(kspace), CROP))
    # validation: one fixed mask per slice index (reproducible); training: a new mask per example
    seed = tf.cast(example["slice"], tf.int64) if validation else tf.constant(-1, tf.int64)
    mask = tf.numpy_function(sample_mask, [tf.shape(kspace)[-1], seed], tf.float32)
    mask = tf.reshape(mask, [1, 1, -1])                           # [1, 1, W] line mask
    inputs = {"kspace": kspace * tf.cast(mask, kspace.dtype), "mask": mask}
    return inputs, example["target"]                              # target float32 RSS [h, w]

def pipeline(split, validation):
    ds = tfds.load("tfmri_fastmri/knee_multicoil", split=split, data_dir=DATA_DIR, shuffle_files=not validation)
    ds = ds.map(lambda ex: to_model_inputs(ex, validation))
    if not validation:
        ds = ds.shuffle(16, seed=0).repeat()
    return ds.batch(BATCH).prefetch(tf.data.AUTOTUNE)

train_ds, val_ds = pipeline("train", False), pipeline("validation", True)
inputs, target = next(iter(train_ds))
print({k: (v.shape, v.dtype.name) for k, v in inputs.items()}, "target", target.shape, target.dtype.name)'''),
        new_markdown_cell("""\
**Training** with `tfmri_zoo.training.train`: `model.fit` with the zoo's callbacks — TensorBoard scalars and image
panels, `best.keras` / `final.keras` saved atomically, `BackupAndRestore` (a Colab session that dies resumes at its
last epoch when the cell is run again) and early stopping. Loss: 1 − SSIM on magnitudes (the fastMRI VarNet
loss); metrics: SSIM and PSNR (`tfmri_zoo.metrics`)."""),
        new_code_cell('''\
from tfmri_zoo import metrics, models, training

MODEL = "varnet"
if TINY:
    model = models.get(MODEL, preset="small", iterations=1, chans=4, pools=1, sens_chans=2, sens_pools=1)
    FIT = dict(epochs=1, steps_per_epoch=2, validation_steps=1)
else:
    model = models.get(MODEL, preset="default")                   # the paper's 12 cascades, ~30 M parameters
    FIT = dict(epochs=50, steps_per_epoch=2000, validation_steps=200, patience=5)
model, history = training.train(
    model, train_ds, val_ds, out_dir=os.path.join(WORK, "train"), loss=training.SSIMLoss(),
    learning_rate=1e-3, metrics=[metrics.SSIMMetric(), metrics.PSNRMetric()], seed=0, verbose=2,
    image_panels=False,  # the panel callback needs coil maps in the inputs; VarNet estimates its own
    **FIT)
print({k: [round(float(x), 4) for x in v] for k, v in history.history.items()})'''),
        new_code_cell(tensorboard('os.path.join(WORK, "train", "logs")')),
        new_markdown_cell("""\
**Evaluation** on the validation split with fastMRI's metric definitions (`tfmri_zoo.metrics.ssim/psnr/nmse` on
magnitudes, per validation batch, averaged over batches), against the zero-filled RSS baseline."""),
        new_code_cell('''\
from tfmri_zoo.physics.coils import rss

scores = {"zero_filled": [], MODEL: []}
for inputs, target in val_ds.take(2 if TINY else -1):
    zero_filled = rss(ifft2c(inputs["kspace"]), axis=1).numpy()
    prediction = np.abs(model(inputs, training=False).numpy())
    for name, image in (("zero_filled", zero_filled), (MODEL, prediction)):
        gt = target.numpy()
        image = center_crop(image, gt.shape[-2:])
        scores[name].append((metrics.ssim(gt, image), metrics.psnr(gt, image), metrics.nmse(gt, image)))
for name, values in scores.items():
    ssim, psnr, nmse = np.mean(values, axis=0)
    print(f"{name:>12}: SSIM {ssim:.4f}  PSNR {psnr:.2f} dB  NMSE {nmse:.4f}")'''),
        new_code_cell('''\
import matplotlib.pyplot as plt

fig, axes = plt.subplots(1, 3, figsize=(9, 3))
for ax, (title, image) in zip(axes, (("zero-filled", zero_filled[0]), (MODEL, prediction[0]),
                                      ("target (RSS)", target.numpy()[0]))):
    ax.imshow(image, cmap="gray"); ax.set_title(title); ax.axis("off")
fig.savefig(os.path.join(WORK, "validation.png"), dpi=80)
plt.show()
print("checkpoints:", sorted(os.listdir(os.path.join(WORK, "train"))))'''),
    ]
    return cells


# ------------------------------------------------------------------------------------------------------- 03 SSDU
def ssdu():
    cells = header("Self-supervised training without fully sampled data: SSDU", """\
SSDU (Yaman et al. 2020; review Eq. 24) splits each example's acquired k-space locations Ω into Θ (fed to the
network and its data consistency) and Λ (used only by the loss
`‖y_Λ − E_Λ x‖₂/‖y_Λ‖₂ + ‖y_Λ − E_Λ x‖₁/‖y_Λ‖₁`). No fully sampled target is used for training. The split is drawn
per example inside the `tf.data` pipeline (`tfmri_zoo.training.ssdu_dataset`), new every epoch; at inference the
trained network gets all of Ω. Here the data are the embedded synthetic volumes; the fully sampled images are used
only to *evaluate* the result.""")
    cells += [
        new_code_cell('''\
import numpy as np
from tfmri_zoo import metrics, models, training
from tfmri_zoo.data import default_dataset, make_dataset
from tfmri_zoo.physics.sampling import RandomMaskFunc

WORK = "runs/03_ssdu"
if TINY:
    DATA = dict(shape=(32, 32), coils=4, num_slices=2, splits={"train": 1, "val": 1, "test": 1})
else:
    DATA = dict(shape=(64, 64), coils=8, num_slices=4, splits={"train": 16, "val": 2, "test": 2})
files = default_dataset(os.path.join(WORK, "data"), seed=0, **DATA)
mask_func = RandomMaskFunc([0.08], [4], seed=0)               # the acquisition Ω: R = 4 lines
acquired = make_dataset(files["train"], mask_func=mask_func, batch_size=2, shuffle=True, seed=0,
                        sensitivities="stored")
# Θ/Λ split per example (ρ = |Λ|/|Ω| = 0.4, Gaussian selection); the image target is dropped (keep_target=False)
train_ds = training.ssdu_dataset(acquired, rho=0.4, selection="gaussian", seed=0).repeat()
inputs, packed = next(iter(train_ds))
image_target, lam, y_lam, maps = training.unpack_kspace_target(packed)
print("Ω lines:", int(tf.reduce_sum(inputs["mask"][0]) + tf.reduce_sum(tf.math.real(lam[0, 0, 0]))),
      "Θ lines:", int(tf.reduce_sum(inputs["mask"][0])), "Λ lines:", int(tf.reduce_sum(tf.math.real(lam[0, 0, 0]))),
      "| packed target", packed.shape, "| image target all zeros:", not bool(tf.reduce_any(image_target != 0)))'''),
        new_code_cell('''\
import matplotlib.pyplot as plt

theta_row = inputs["mask"][0, 0, 0].numpy()
lambda_row = np.real(lam[0, 0, 0].numpy())
plt.figure(figsize=(8, 1.2))
plt.imshow(np.stack([theta_row + lambda_row, theta_row, lambda_row]), cmap="gray", aspect="auto")
plt.yticks([0, 1, 2], ["Ω", "Θ (network)", "Λ (loss)"]); plt.xlabel("k-space column")
plt.show()'''),
        new_markdown_cell("**Training** MoDL with the SSDU loss through `tfmri_zoo.training.train` (`model.fit` + "
                          "TensorBoard, checkpoints, backup):"),
        new_code_cell('''\
if TINY:
    model = models.get("modl", preset="small", iterations=2, cg_iterations=3,
                       regularizer={"name": "unet", "filters": 4, "depth": 1})
    FIT = dict(epochs=1, steps_per_epoch=2)
else:
    model = models.get("modl", preset="small", iterations=4, cg_iterations=5,
                       regularizer={"name": "unet", "filters": 16, "depth": 2})
    FIT = dict(epochs=20, steps_per_epoch=100)
model, history = training.train(model, train_ds, out_dir=os.path.join(WORK, "train"), loss=training.SSDULoss(),
                                learning_rate=1e-3, seed=0, verbose=2, **FIT)
print("SSDU loss per epoch:", [round(float(x), 4) for x in history.history["loss"]])'''),
        new_code_cell(tensorboard('os.path.join(WORK, "train", "logs")')),
        new_markdown_cell("**Evaluation** on the test volumes with all acquired lines Ω as input, against the fully "
                          "sampled reference (used here for the first time):"),
        new_code_cell('''\
from tfmri_zoo import recon

test_ds = make_dataset(files["test"], mask_func=mask_func, batch_size=2, validation=True, sensitivities="stored")
scores = {"zero_filled": [], "ssdu_modl": []}
for inputs, target in test_ds:
    gt = np.abs(target.numpy())
    outputs = {"zero_filled": recon.zero_filled(inputs["kspace"], inputs["mask"], inputs["sensitivities"]),
               "ssdu_modl": model(inputs, training=False)}
    for name, image in outputs.items():
        image = np.abs(np.asarray(image))
        scores[name].append((metrics.ssim(gt, image), metrics.psnr(gt, image), metrics.nmse(gt, image)))
for name, values in scores.items():
    ssim, psnr, nmse = np.mean(values, axis=0)
    print(f"{name:>12}: SSIM {ssim:.4f}  PSNR {psnr:.2f} dB  NMSE {nmse:.4f}")'''),
        new_markdown_cell("""\
Variants: `training.zero_shot` (ZS-SSL: SSDU on a single scan with a held-out Γ set for early stopping) and
`training.KSpaceLoss` / `training.MixedLoss` for k-space or mixed supervision."""),
    ]
    return cells


# ------------------------------------------------------------------------------------------- 04 export & serve
def export_serve():
    cells = header("Export a trained model for TF-Serving and build REST / gRPC requests", """\
`tfmri_zoo.export.export_saved_model` writes `<base>/<model_name>/<version>/` atomically, with a float32
`serving_default` signature (real/imag on a trailing axis, because TF-Serving's JSON has no complex type), a
`complex` signature and warm-up records. Here the SavedModel is loaded back and the requests built by
`tfmri_zoo.export.client` are fed through its signature the way TF-Serving maps them — no server needed. The last
cell prints the `docker run` commands to serve the folder with `tensorflow/serving` (CPU or GPU).""")
    cells += [
        new_code_cell('''\
import numpy as np
from tfmri_zoo import models, training
from tfmri_zoo.data import default_dataset, make_dataset
from tfmri_zoo.physics.sampling import RandomMaskFunc

WORK = "runs/04_export"
# A trained MoDL: set TFMRI_ZOO_KERAS_MODEL to a .keras file (e.g. runs/03_ssdu/train/final.keras from the SSDU
# notebook); without one a small MoDL is trained here first.
KERAS_MODEL = os.environ.get("TFMRI_ZOO_KERAS_MODEL", "")
if TINY:
    DATA = dict(shape=(32, 32), coils=4, num_slices=2, splits={"train": 1, "test": 1})
else:
    DATA = dict(shape=(64, 64), coils=8, num_slices=4, splits={"train": 8, "test": 2})
files = default_dataset(os.path.join(WORK, "data"), seed=0, **DATA)
mask_func = RandomMaskFunc([0.08], [4], seed=0)
if KERAS_MODEL and os.path.exists(KERAS_MODEL):
    model = keras.saving.load_model(KERAS_MODEL, safe_mode=True)
else:
    model = models.get("modl", preset="small", iterations=2, cg_iterations=3,
                       regularizer={"name": "unet", "filters": 4 if TINY else 16, "depth": 1 if TINY else 2})
    train_ds = make_dataset(files["train"], mask_func=mask_func, batch_size=2, shuffle=True, sensitivities="stored")
    model, _ = training.train(model, train_ds.repeat(), out_dir=os.path.join(WORK, "train"), seed=0, verbose=2,
                              epochs=1, steps_per_epoch=2 if TINY else 200, tensorboard=False, backup=False)
print(type(model).__name__, model.count_params(), "parameters")'''),
        new_code_cell('''\
from tfmri_zoo.export import export_saved_model, write_models_config

BASE = os.path.join(WORK, "serving")
version_dir = export_saved_model(model, BASE, model_name="modl", version=1)
config_path = write_models_config(BASE, ["modl"])
for root, _, names in sorted(os.walk(BASE)):
    for name in sorted(names):
        print(os.path.relpath(os.path.join(root, name), BASE))
print(open(config_path).read())'''),
        new_markdown_cell("**Signatures** (`saved_model_cli show --all --dir ...` prints the same), loaded in plain "
                          "TensorFlow — TF-Serving does not import tfmri_zoo either:"),
        new_code_cell('''\
loaded = tf.saved_model.load(version_dir)
for name, fn in loaded.signatures.items():
    print(name)
    for key, spec in sorted(fn.structured_input_signature[1].items()):
        print(f"  input  {key:14s} {spec.dtype.name:10s} {spec.shape}")
    for key, spec in sorted(fn.structured_outputs.items()):
        print(f"  output {key:14s} {spec.dtype.name:10s} {spec.shape}")
if not TINY:
    !saved_model_cli show --all --dir {version_dir} | head -40'''),
        new_markdown_cell("""\
**REST.** `client.rest_request` builds the JSON body of `POST /v1/models/modl:predict` (columnar `inputs`).
TF-Serving turns each named input into a tensor and calls the signature; we do the same with the loaded SavedModel
and wrap the outputs as the server's JSON response, which `client.decode_rest_response` turns into a complex
image."""),
        new_code_cell('''\
import json
from tfmri_zoo.export import client

test_ds = make_dataset(files["test"], mask_func=mask_func, batch_size=2, validation=True, sensitivities="stored")
inputs, target = next(iter(test_ds))
kspace, maps = inputs["kspace"].numpy(), inputs["sensitivities"].numpy()     # complex64 [B, C, H, W]
lines = inputs["mask"].numpy()[:, 0, 0, :]                                     # [B, W] line mask

body = client.rest_request(kspace, lines, maps)
print(f"REST body: {len(body) / 1e6:.2f} MB JSON, inputs", list(json.loads(body)["inputs"]))
serving_default = loaded.signatures["serving_default"]
request_inputs = {k: tf.constant(v, tf.float32) for k, v in json.loads(body)["inputs"].items()}
outputs = serving_default(**request_inputs)
response = json.dumps({"outputs": {k: v.numpy().tolist() for k, v in outputs.items()}})
image_rest = client.decode_rest_response(response)

reference = model(inputs, training=False).numpy()
rest_error = np.max(np.abs(image_rest - reference)) / np.max(np.abs(reference))
print("REST image", image_rest.shape, image_rest.dtype, f"max relative difference to Keras: {rest_error:.2e}")'''),
        new_markdown_cell("**gRPC.** `client.grpc_request` builds a `PredictRequest` (needs `tensorflow-serving-api`, "
                          "the `[serving]` extra); its TensorProtos decode to the same float32 arrays:"),
        new_code_cell('''\
from tensorflow_serving.apis import predict_pb2

request = client.grpc_request(kspace, lines, maps, model_name="modl")
print(request.model_spec.name, request.model_spec.signature_name,
      {k: [d.size for d in v.tensor_shape.dim] for k, v in request.inputs.items()})
outputs = serving_default(**{k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()})
grpc_response = predict_pb2.PredictResponse()
for key, value in outputs.items():
    grpc_response.outputs[key].CopyFrom(tf.make_tensor_proto(value.numpy()))
image_grpc = client.decode_grpc_response(grpc_response)
grpc_error = np.max(np.abs(image_grpc - reference)) / np.max(np.abs(reference))
print(f"gRPC image {image_grpc.shape}, max relative difference to Keras: {grpc_error:.2e}")
assert rest_error < 1e-4 and grpc_error < 1e-4'''),
        new_markdown_cell("**Warm-up records** replayed by the server at load time (so the first real request is not "
                          "slow):"),
        new_code_cell('''\
from tensorflow_serving.apis import prediction_log_pb2

warmup = os.path.join(version_dir, "assets.extra", "tf_serving_warmup_requests")
for record in tf.data.TFRecordDataset(warmup):
    log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
    req = log.predict_log.request
    print("warm-up:", req.model_spec.name, req.model_spec.signature_name,
          {k: [d.size for d in v.tensor_shape.dim] for k, v in req.inputs.items()})'''),
        new_markdown_cell("""\
**Serve it.** On a machine with Docker (not in Colab), from the folder holding `runs/04_export/serving`; see
`export/README.md` for curl and Python clients (`client.predict_rest`, `client.predict_grpc`)."""),
        new_code_cell('''\
base = os.path.abspath(BASE)
print(f"""# CPU
docker run --rm -p 8501:8501 -p 8500:8500 -v "{base}:/models" tensorflow/serving \\\\
  --model_config_file=/models/models.config
# GPU (NVIDIA container toolkit)
docker run --rm --gpus all -p 8501:8501 -p 8500:8500 -v "{base}:/models" tensorflow/serving:latest-gpu \\\\
  --model_config_file=/models/models.config
# REST request (body from client.rest_request, as in the REST cell above)
curl -s -X POST localhost:8501/v1/models/modl:predict -d @body.json -o response.json""")
with open(os.path.join(WORK, "body.json"), "w") as f:
    f.write(body)'''),
    ]
    return cells

# ------------------------------------------------------------------------------------------------ 05 cine motion
def cine_motion():
    cells = header("Dynamic (cine) reconstruction with motion in the forward model", """\
Synthetic 2D+t cine with a beating heart and respiratory motion whose displacement fields are known
(`tfmri_zoo.data.synthetic.synthetic_volume(series="cine")`), k-t lattice undersampling at R = 8
(`KtMaskFunc`), and four reconstructions of held-out examples (review Sec. IV-B Fig. 5, Sec. IV-C-4 Fig. 7):

* **frame-wise SENSE**: CG on every frame alone, `(E_tᴴE_t + μI)⁻¹E_tᴴy_t`;
* **MC-CG, true fields**: one reference image `x`, encoded by `E_t = M_t F C W_t` with the generator's fields
  (`tfmri_zoo.physics.motion.motion_compensated_sense`) — the upper bound of motion-compensated models;
* **CINENet**: cascades of complex U-Nets with split spatio-temporal convolutions and data consistency;
* **motion_net**: a U-Net estimating the fields from frame-wise SENSE images, then MC-CG with them (trained end to
  end plus the self-supervised warping loss).

Full scale is `benchmarks/cine.py`'s setting (32×32, 8 frames, 4 coils, 16 training / 8 test examples, 300 Adam
steps; minutes on a GPU). The tiny CI run trains 2 steps and says nothing about quality.""")
    cells += [
        new_code_cell('''\
import numpy as np
from tfmri_zoo.data.synthetic import synthetic_volume
from tfmri_zoo.physics.sampling import KtMaskFunc

WORK = "runs/05_cine"
os.makedirs(WORK, exist_ok=True)
if TINY:
    SIZE, FRAMES, COILS, N_TRAIN, N_TEST, STEPS = 32, 4, 4, 2, 1, 2
else:
    SIZE, FRAMES, COILS, N_TRAIN, N_TEST, STEPS = 32, 8, 4, 16, 8, 300
ACCELERATION = 8


def cine_examples(seeds):
    """Undersampled cine slices with their targets and true displacement fields, one per seed (numpy)."""
    mask_func = KtMaskFunc(ACCELERATION, center_fraction=0.08, pattern="lattice", seed=0)
    examples = []
    for seed in seeds:
        vol = synthetic_volume(1, (SIZE, SIZE), COILS, seed, noise_level=0.01, series="cine", num_frames=FRAMES)
        mask, _ = mask_func((1, COILS, FRAMES, SIZE, SIZE), seed=int(seed))   # a new lattice shear per example
        mask = np.asarray(mask, np.float32).reshape(1, FRAMES, 1, SIZE)    # [1, T, 1, W]
        examples.append(dict(kspace=vol["kspace"][0] * mask, mask=mask, sensitivities=vol["sensitivities"][0][:, :1],
                             target=vol["image"][0], displacements=vol["displacement"][0]))
    return {key: np.stack([e[key] for e in examples]).astype(
        np.float32 if key in ("mask", "displacements") else np.complex64) for key in examples[0]}


train_data = cine_examples(range(N_TRAIN))
test_data = cine_examples(range(10_000, 10_000 + N_TEST))   # disjoint seeds: held out
print("kspace", test_data["kspace"].shape, "mask", test_data["mask"].shape, "sensitivities",
      test_data["sensitivities"].shape, "displacements", test_data["displacements"].shape)
print(f"nominal R = {ACCELERATION} (lattice) plus the centre lines: acquired fraction {test_data['mask'].mean():.3f}, "
      f"effective R = {1 / test_data['mask'].mean():.1f}")'''),
        new_markdown_cell("Classical reconstructions (data normalised by max|Eᴴy| per example, as the models do):"),
        new_code_cell('''\
from tfmri_zoo import metrics
from tfmri_zoo.models.motion_net import framewise_sense
from tfmri_zoo.physics.motion import motion_compensated_sense
from tfmri_zoo.physics.sense import SenseOperator

CG_ITERATIONS = 20
k, m, s = test_data["kspace"], test_data["mask"], test_data["sensitivities"]
scale = np.abs(SenseOperator(s, m).adjoint(k).numpy()).max(axis=(1, 2, 3), keepdims=True)
k_normalised = k / scale[:, None]
recons = {
    "frame-wise SENSE": framewise_sense(SenseOperator(s, m), k_normalised, CG_ITERATIONS, 0.01).numpy() * scale,
    "MC-CG, true fields": motion_compensated_sense(k_normalised, m, s, test_data["displacements"],
                                                   max_iter=CG_ITERATIONS, lam=0.01).numpy() * scale,
}'''),
        new_markdown_cell("**Training** CINENet and motion_net briefly on the training examples (image MSE; "
                          "motion_net adds its warping loss):"),
        new_code_cell('''\
import time
from tfmri_zoo import models
from tfmri_zoo.training.losses import ComplexMSE

CONFIGS = {
    "cinenet": dict(preset="small", iterations=4, filters=8, depth=2),
    "motion_net": dict(preset="small", filters=16, depth=2, sense_iterations=8, cg_iterations=15,
                       warp_loss_weight=1.0, max_displacement=6.0),
}
if TINY:
    CONFIGS = {"cinenet": dict(preset="small"),
               "motion_net": dict(preset="small", sense_iterations=2, cg_iterations=3, warp_loss_weight=1.0)}
INPUT_KEYS = ("kspace", "mask", "sensitivities")
train_ds = (tf.data.Dataset.from_tensor_slices(({key: train_data[key] for key in INPUT_KEYS}, train_data["target"]))
            .shuffle(N_TRAIN, seed=0).repeat().batch(2 if N_TRAIN >= 2 else 1, drop_remainder=True))
trained = {}
for name, config in CONFIGS.items():
    keras.utils.set_random_seed(0)
    model = models.get(name, **config)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=ComplexMSE())
    start = time.time()
    history = model.fit(train_ds, steps_per_epoch=STEPS, epochs=1, verbose=0)
    print(f"{name}: {model.count_params()} parameters, {STEPS} steps in {time.time() - start:.0f} s, "
          f"final loss {history.history['loss'][-1]:.4g}")
    recons[name] = np.concatenate([model({key: test_data[key][i:i + 2] for key in INPUT_KEYS}).numpy()
                                   for i in range(0, N_TEST, 2)])
    trained[name] = model'''),
        new_markdown_cell("Magnitude PSNR / SSIM on the held-out examples (all frames of an example as one volume, "
                          "range = its target's maximum):"),
        new_code_cell('''\
import json

results = {}
for name, recon in recons.items():
    psnr = np.mean([metrics.psnr(np.abs(t), np.abs(r), data_range=np.abs(t).max())
                    for t, r in zip(test_data["target"], recon)])
    ssim = np.mean([metrics.ssim(np.abs(t), np.abs(r), data_range=np.abs(t).max())
                    for t, r in zip(test_data["target"], recon)])
    results[name] = {"psnr": float(psnr), "ssim": float(ssim)}
rows = ["| method | PSNR (dB) | SSIM |", "|---|---|---|"]
rows += [f"| {name} | {r['psnr']:.2f} | {r['ssim']:.4f} |" for name, r in results.items()]
table = "\\n".join(rows)
print(table)
with open(os.path.join(WORK, "metrics.json"), "w") as f:
    json.dump({"scale": SCALE, "acceleration": ACCELERATION, "frames": FRAMES, "steps": STEPS,
               "results": results}, f, indent=1)
from IPython.display import Markdown, display
display(Markdown(table))'''),
        new_code_cell('''\
import matplotlib.pyplot as plt

shown = [0, FRAMES // 3, 2 * FRAMES // 3]  # a few frames of the first test example
panels = {"target": test_data["target"], **recons}
fig, axes = plt.subplots(len(shown), len(panels), figsize=(2.2 * len(panels), 2.2 * len(shown)), squeeze=False)
vmax = np.abs(test_data["target"][0]).max()
for row, frame in enumerate(shown):
    for col, (name, images) in enumerate(panels.items()):
        axes[row, col].imshow(np.abs(images[0, frame]), cmap="gray", vmin=0, vmax=vmax)
        axes[row, col].set_xticks([]); axes[row, col].set_yticks([])
        if row == 0:
            axes[row, col].set_title(name, fontsize=8)
    axes[row, 0].set_ylabel(f"frame {frame}")
fig.tight_layout()
fig.savefig(os.path.join(WORK, "frames.png"), dpi=100)
plt.show()'''),
        new_markdown_cell("""\
With the true fields, the motion-compensated CG shares one reference image across all frames and so recovers them
far better than frame-wise SENSE; the learned models sit between (see `models/cinenet/README.md` and
`models/motion_net/README.md` for the measured `benchmarks/cine.py` tables). `moco_modl` (MoDL unrolls with the
motion-aware CG) is trained the same way: add `"moco_modl": dict(preset="small")` to `CONFIGS`."""),
    ]
    return cells


NOTEBOOKS = {
    "01_quickstart.ipynb": quickstart,
    "02_train_fastmri_tfds.ipynb": fastmri_tfds,
    "03_ssdu_self_supervised.ipynb": ssdu,
    "04_export_and_serve.ipynb": export_serve,
    "05_cine_motion.ipynb": cine_motion,
}


def build(name):
    notebook = new_notebook(cells=NOTEBOOKS[name]())
    for i, cell in enumerate(notebook.cells):  # stable ids: regenerating gives the same file
        cell.id = f"cell-{i:02d}"
    notebook.metadata.update({
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
        "accelerator": "GPU",
        "colab": {"provenance": [], "gpuType": "T4"},
    })
    return notebook


def main():
    for name in NOTEBOOKS:
        path = os.path.join(HERE, name)
        nbformat.write(build(name), path)
        print("wrote", path)


if __name__ == "__main__":
    main()
