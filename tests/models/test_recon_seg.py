"""Joint reconstruction and segmentation (``recon_seg``): outputs, the unroll against a dense numpy solve, Dice against
its definition, joint training through ``fit``, ``.keras`` and TF-Serving round trips with both outputs."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models import zoo_contract
from tests.models.test_modl import built_default, check_model_card
from tfmri_zoo import models
from tfmri_zoo.export.serving import export_saved_model
from tfmri_zoo.metrics import dice
from tfmri_zoo.training.losses import ComplexL1

DEFAULT_PARAMS = 1925479  # printed in models/recon_seg/README.md


@pytest.fixture(scope="module")
def problem():
    inputs, target = zoo_contract.toy_problem(batch=2, coils=4, height=32, width=32)
    labels = np.digitize(np.abs(target), [0.15, 0.8, 1.3]).astype(np.int32)   # 4 intensity classes
    return inputs, target, labels


def test_outputs_are_an_image_and_class_probabilities(problem):
    inputs, target, _ = problem
    model = models.get("recon_seg", preset="small")
    out = model(inputs)
    assert set(out) == {"image", "segmentation"}
    assert out["image"].dtype == tf.complex64 and out["image"].shape == target.shape
    assert out["segmentation"].dtype == tf.float32 and out["segmentation"].shape == target.shape + (4,)
    np.testing.assert_allclose(tf.reduce_sum(out["segmentation"], -1).numpy(), 1.0, atol=1e-5)
    scaled = model({**inputs, "kspace": inputs["kspace"] * 1e3})       # scale: image × 1e3, classes unchanged
    np.testing.assert_allclose(scaled["image"].numpy(), 1e3 * out["image"].numpy(), rtol=1e-3,
                               atol=1e-3 * np.abs(1e3 * out["image"].numpy()).max())
    np.testing.assert_allclose(scaled["segmentation"].numpy(), out["segmentation"].numpy(), atol=1e-4)


def test_with_an_identity_regulariser_the_image_is_the_proximal_point_iteration(problem):
    """U-Net output convolution zeroed: D = I, so x_{k+1} = (EᴴE + λI)⁻¹(Eᴴy + λx_k), solved densely in numpy."""
    inputs, _, _ = problem
    one = {k: v[:1] for k, v in inputs.items()}
    model = models.get("recon_seg", preset="small", cg_iterations=60, normalize=False)
    model(one)
    model.unet.out.set_weights([np.zeros_like(w) for w in model.unet.out.get_weights()])
    got = model(one)["image"].numpy()[0]
    _, coils, height, width = one["kspace"].shape
    eye = np.eye(height * width).reshape(-1, height, width)
    fft = lambda x: np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=(-2, -1)), norm="ortho"),  # noqa: E731
                                    axes=(-2, -1))
    columns = fft(one["sensitivities"][0][None] * eye[:, None]) * one["mask"][0]
    matrix = columns.reshape(height * width, -1).T                                   # E: [C·H·W, H·W]
    y = one["kspace"][0].ravel()
    normal, rhs = matrix.conj().T @ matrix, matrix.conj().T @ y
    lam = float(model.dc.nonnegative(model.dc.lam).numpy())
    x = rhs.copy()
    for _ in range(model.iterations):
        x = np.linalg.solve(normal + lam * np.eye(len(x)), rhs + lam * x)
    np.testing.assert_allclose(got.ravel(), x, atol=2e-3 * np.abs(x).max())


def test_dice_is_the_overlap_definition():
    labels = np.array([[0, 1, 1], [2, 2, 0]])
    prediction = np.array([[0, 1, 2], [2, 2, 2]])
    # class 0: |A|=2, |B|=1, |A∩B|=1 → 2/3; class 1: 2, 1, 1 → 2/3; class 2: 2, 4, 2 → 4/6; class 3 absent → 1
    np.testing.assert_allclose(dice(labels, prediction, 4), [2 / 3, 2 / 3, 2 / 3, 1.0])
    probabilities = np.eye(4)[prediction]
    np.testing.assert_allclose(dice(labels, probabilities, 4), dice(labels, prediction, 4))
    with pytest.raises(ValueError, match="labels"):
        dice(labels + 3, prediction, 4)


def test_joint_training_lowers_both_losses_and_round_trips(problem, tmp_path):
    inputs, target, labels = problem
    keras.utils.set_random_seed(2)
    model = models.get("recon_seg", preset="small")
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss={"image": ComplexL1(), "segmentation": keras.losses.SparseCategoricalCrossentropy()},
                  loss_weights={"image": 1.0, "segmentation": 0.1})
    before = dice(labels, model(inputs)["segmentation"].numpy(), 4).mean()
    data = tf.data.Dataset.from_tensors((inputs, {"image": target, "segmentation": labels})).repeat(60)
    history = model.fit(data, epochs=3, verbose=0)
    losses = history.history
    assert losses["image_loss"][-1] < 0.5 * losses["image_loss"][0] or losses["loss"][-1] < 0.5 * losses["loss"][0]
    after = model(inputs)
    assert dice(labels, after["segmentation"].numpy(), 4).mean() > before + 0.2
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")(inputs)
    for key in ("image", "segmentation"):
        np.testing.assert_allclose(loaded[key].numpy(), after[key].numpy(), atol=1e-5)
    path = export_saved_model(model, str(tmp_path / "serving"), model_name="recon_seg", version=1)
    served = tf.saved_model.load(path).signatures["complex"](
        kspace=tf.constant(inputs["kspace"]), mask=tf.constant(inputs["mask"][:, 0]),
        sensitivities=tf.constant(inputs["sensitivities"]))
    np.testing.assert_allclose(served["image"].numpy(), after["image"].numpy(), atol=1e-4)
    np.testing.assert_allclose(served["segmentation"].numpy(), after["segmentation"].numpy(), atol=1e-4)


def test_model_card_and_default_size():
    check_model_card("recon_seg", DEFAULT_PARAMS)
    assert built_default("recon_seg").count_params() == DEFAULT_PARAMS


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="num_classes"):
        models.get("recon_seg", num_classes=1)


def test_recompute_gives_the_same_outputs_and_gradients(problem):
    inputs, target, labels = problem
    one = {k: v[:1] for k, v in inputs.items()}
    results = []
    for recompute in (False, True):
        model = models.get("recon_seg", preset="small", recompute=recompute)
        model(one)
        if recompute:
            model.set_weights(weights)
        weights = model.get_weights()
        with tf.GradientTape() as tape:
            out = model(one, training=False)
            loss = tf.reduce_sum(tf.abs(out["image"] - target[:1]) ** 2) + tf.reduce_sum(
                keras.losses.sparse_categorical_crossentropy(labels[:1], out["segmentation"]))
        results.append((out, tape.gradient(loss, model.trainable_weights)))
    (plain, grads_plain), (memory, grads_memory) = results
    for key in ("image", "segmentation"):
        np.testing.assert_allclose(memory[key].numpy(), plain[key].numpy(), atol=1e-5)
    for a, b in zip(grads_plain, grads_memory):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-3, atol=1e-5 * np.abs(a.numpy()).max())
