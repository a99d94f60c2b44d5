"""Held-out synthetic cine at k-t acceleration R: motion-compensated vs frame-wise reconstruction, and the networks.

Data: :func:`tfmri_zoo.data.synthetic.synthetic_volume` with ``series="cine"`` (a beating heart and respiratory
translation with known displacement fields, Biot-Savart coil maps, correlated k-space noise), k-t lattice masks from
:class:`tfmri_zoo.physics.sampling.KtMaskFunc` (a new shear offset per example). Training and test volumes use
disjoint seeds. Rows of the table (magnitude PSNR / SSIM over all frames, each example scaled by its target maximum):

  frame-wise SENSE             CG on every frame alone, ``(E_tᴴE_t + μI)⁻¹E_tᴴy_t``
  static CG (zero fields)      the motion-compensated CG with all fields 0 (one image for all frames)
  MC-CG, true fields           motion-compensated CG with the generator's fields (the upper bound of motion models)
  cinenet / motion_net / moco_modl   the zoo models after ``--steps`` Adam steps on the training volumes

``--pretrain-steps N`` first trains only the motion estimator of motion_net / moco_modl for ``N`` Adam steps on a
supervised registration loss: the estimator sees the frame-wise SENSE frames of a training example (as in the model)
and the warping loss of :func:`tfmri_zoo.models.motion_net.warping_loss` is taken on the example's *target* frames,
so the fields are learned from clean images; the end-to-end ``--steps`` follow.

Usage::

    python benchmarks/cine.py --quick           # 32x32, 8 frames, 4 coils, small networks, few steps (CPU minutes)
    python benchmarks/cine.py --quick --size 16 --frames 4 --steps 2   # small networks; explicit sizes win
    python benchmarks/cine.py --size 64 --frames 12 --train 32 --steps 600   # larger (GPU)
"""
import argparse
import json
import time

import keras
import numpy as np
import tensorflow as tf

from tfmri_zoo import metrics, models
from tfmri_zoo.data.synthetic import synthetic_volume
from tfmri_zoo.models.motion_net import framewise_sense, warping_loss
from tfmri_zoo.physics.motion import motion_compensated_sense
from tfmri_zoo.physics.sampling import KtMaskFunc
from tfmri_zoo.physics.sense import SenseOperator
from tfmri_zoo.training.losses import ComplexMSE


def make_examples(seeds, size, frames, coils, acceleration, noise_level):
    """One slice per seed → dict of stacked numpy arrays (kspace, mask, sensitivities, target, displacements)."""
    mask_func = KtMaskFunc(acceleration, center_fraction=0.08, pattern="lattice", seed=0)
    out = {key: [] for key in ("kspace", "mask", "sensitivities", "target", "displacements")}
    for seed in seeds:
        vol = synthetic_volume(1, (size, size), coils, seed, noise_level=noise_level, series="cine", num_frames=frames)
        mask, _ = mask_func((1, coils, frames, size, size), seed=int(seed))
        mask = np.asarray(mask, np.float32).reshape(1, frames, 1, size)
        out["kspace"].append(vol["kspace"][0] * mask)
        out["mask"].append(mask)
        out["sensitivities"].append(vol["sensitivities"][0][:, :1])
        out["target"].append(vol["image"][0])
        out["displacements"].append(vol["displacement"][0])  # [T, H, W, 2], the operator's layout
    return {key: np.stack(value).astype(np.float32 if key in ("mask", "displacements") else np.complex64)
            for key, value in out.items()}


def score(target, recon):
    """Mean magnitude PSNR and SSIM over examples (each example's frames as one volume, range = its target max)."""
    psnrs, ssims = [], []
    for t, r in zip(np.abs(target), np.abs(recon)):
        psnrs.append(metrics.psnr(t, r, data_range=t.max()))
        ssims.append(metrics.ssim(t, r, data_range=t.max()))
    return float(np.mean(psnrs)), float(np.mean(ssims))


def inputs_of(data):
    return {key: data[key] for key in ("kspace", "mask", "sensitivities")}


def predict(model, data, batch):
    return np.concatenate([model({k: v[i:i + batch] for k, v in inputs_of(data).items()}).numpy()
                           for i in range(0, len(data["kspace"]), batch)])


def train(model, data, steps, batch, learning_rate):
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=ComplexMSE(), jit_compile=False)
    ds = tf.data.Dataset.from_tensor_slices((inputs_of(data), data["target"]))
    ds = ds.shuffle(len(data["target"]), seed=0).repeat().batch(batch, drop_remainder=True)
    history = model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    return float(history.history["loss"][-1])


def normalised_kspace(data):
    """k-space divided by max|Eᴴy| per example (the models' normalisation), and that scale ``[N, 1, 1, 1]``."""
    k, m, s = data["kspace"], data["mask"], data["sensitivities"]
    scale = np.abs(SenseOperator(s, m).adjoint(k).numpy()).max(axis=(1, 2, 3), keepdims=True)
    return k / scale[:, None], scale


def pretrain_estimator(model, data, steps, batch, learning_rate):
    """Trains ``model.estimator`` alone: fields from frame-wise SENSE frames, warping loss on the target frames."""
    kn, _ = normalised_kspace(data)
    frames = framewise_sense(SenseOperator(data["sensitivities"], data["mask"]), kn, model.sense_iterations,
                             model.sense_lam).numpy()
    ds = tf.data.Dataset.from_tensor_slices((frames, data["target"])).shuffle(len(frames), seed=0).repeat()
    ds = iter(ds.batch(batch, drop_remainder=True))
    optimizer = keras.optimizers.Adam(learning_rate)
    model.estimator(frames[:1])  # builds the estimator's weights
    weights = model.estimator.trainable_weights

    @tf.function
    def step(inputs, target):
        with tf.GradientTape() as tape, tf.name_scope("pretrain"):  # a valid root scope for the traced layers
            loss = warping_loss(target, model.estimator(inputs, training=True), model.reference, model.smoothness)
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    losses = [float(step(*next(ds))) for _ in range(steps)]
    return losses[0], losses[-1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small networks; unless given explicitly: 32², 8 frames, 4 coils, 8/4 volumes, 60 steps")
    parser.add_argument("--size", type=int, default=48)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--coils", type=int, default=8)
    parser.add_argument("--acceleration", type=int, default=8)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--train", type=int, default=16)
    parser.add_argument("--test", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--cg", type=int, default=20, help="CG iterations of the classical rows")
    parser.add_argument("--models", default="cinenet,motion_net,moco_modl")
    parser.add_argument("--pretrain-steps", type=int, default=0,
                        help="supervised registration steps of the motion estimators before end-to-end training")
    parser.add_argument("--json", default=None, help="write the table as JSON here")
    if parser.parse_args(argv).quick:  # the quick sizes are defaults: explicit arguments override them
        parser.set_defaults(size=32, frames=8, coils=4, train=8, test=4, steps=60)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(0)
    t0 = time.time()
    train_data = make_examples(range(args.train), args.size, args.frames, args.coils, args.acceleration, args.noise)
    test_data = make_examples(range(10_000, 10_000 + args.test), args.size, args.frames, args.coils,
                              args.acceleration, args.noise)
    rows = []

    def add(name, recon, seconds, note=""):
        p, s = score(test_data["target"], recon)
        rows.append({"method": name, "psnr": p, "ssim": s, "seconds": seconds, "note": note})
        print(f"{name:28s} PSNR {p:6.2f} dB  SSIM {s:.4f}  ({seconds:.1f} s) {note}", flush=True)

    m, s = test_data["mask"], test_data["sensitivities"]
    kn, scale = normalised_kspace(test_data)  # the classical rows see data normalised like the models do
    t = time.time()
    add("frame-wise SENSE", framewise_sense(SenseOperator(s, m), kn, args.cg, 0.01).numpy() * scale, time.time() - t)
    t = time.time()
    zero = np.zeros_like(test_data["displacements"])
    add("static CG (zero fields)", motion_compensated_sense(kn, m, s, zero, max_iter=args.cg, lam=0.01).numpy()
        * scale, time.time() - t)
    t = time.time()
    add("MC-CG, true fields", motion_compensated_sense(kn, m, s, test_data["displacements"], max_iter=args.cg,
                                                      lam=0.01).numpy() * scale, time.time() - t)
    small = args.quick
    configs = {
        "cinenet": dict(preset="small") if small else dict(preset="small", iterations=4, filters=8, depth=2),
        "motion_net": dict(preset="small", sense_iterations=4, cg_iterations=10, warp_loss_weight=1.0)
        if small else dict(preset="small", filters=16, depth=2, sense_iterations=8, cg_iterations=15,
                           warp_loss_weight=1.0, max_displacement=6.0),
        "moco_modl": dict(preset="small", iterations=2, cg_iterations=6, sense_iterations=4, warp_loss_weight=1.0)
        if small else dict(preset="small", iterations=3, cg_iterations=8, filters=16, depth=2, sense_iterations=8,
                           warp_loss_weight=1.0, max_displacement=6.0),
    }
    for name in [n for n in args.models.split(",") if n]:
        config = dict(configs[name])
        keras.utils.set_random_seed(0)
        model = models.get(name, **config)
        t = time.time()
        note = ""
        if args.pretrain_steps and name in ("motion_net", "moco_modl"):
            first, last = pretrain_estimator(model, train_data, args.pretrain_steps, args.batch, args.lr)
            note = f", estimator pre-trained {args.pretrain_steps} steps (warping loss {first:.3g} -> {last:.3g})"
        loss = train(model, train_data, args.steps, args.batch, args.lr)
        train_s = time.time() - t
        t = time.time()
        add(name, predict(model, test_data, args.batch), time.time() - t,
            f"{args.steps} steps{note}, train {train_s:.0f} s, final loss {loss:.3g}, {model.count_params()} params")
    print(f"total {time.time() - t0:.0f} s; args {vars(args)}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
