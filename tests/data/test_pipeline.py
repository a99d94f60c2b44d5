"""tf.data pipeline: documented shapes/dtypes, masks and seeding, normalisation, bad files, sharding, ESPIRiT cache."""
import os

import numpy as np
import pytest
import tensorflow as tf

from tfmri_zoo.data.fastmri import write_fastmri_file
from tfmri_zoo.data.pipeline import make_dataset, validation_seed
from tfmri_zoo.data.synthetic import write_synthetic_dataset
from tfmri_zoo.physics.coils import rss
from tfmri_zoo.physics.fft import ifft2c
from tfmri_zoo.physics.sampling import EquispacedMaskFunc, RandomMaskFunc


def _mask_func():
    return RandomMaskFunc([0.125], [2])  # 24 columns: 3 central + random outer lines


def _collect(dataset):
    return [tuple(tf.nest.map_structure(lambda t: t.numpy(), element)) for element in dataset]


def test_shapes_dtypes_and_a_consistent_target(synthetic_dir):
    dataset = make_dataset(synthetic_dir, mask_func=_mask_func(), batch_size=2, return_info=True)
    spec_inputs, spec_target, _ = dataset.element_spec
    assert spec_inputs["kspace"].shape.as_list() == [None, 4, 32, 24]
    assert spec_inputs["mask"].shape.as_list() == [None, 1, 1, 24]
    batches = _collect(dataset)
    assert sum(b[0]["kspace"].shape[0] for b in batches) == 9
    inputs, target, info = batches[0]
    assert inputs["kspace"].shape == (2, 4, 32, 24) and inputs["kspace"].dtype == np.complex64
    assert inputs["mask"].shape == (2, 1, 1, 24) and inputs["mask"].dtype == np.float32
    assert inputs["sensitivities"].shape == (2, 4, 32, 24) and inputs["sensitivities"].dtype == np.complex64
    assert target.shape == (2, 32, 24) and target.dtype == np.complex64
    # k-space is masked; zero-filled RSS has max 1 (documented "zero_filled_max" normalisation)
    unsampled = inputs["mask"][:, :, :, :] == 0
    assert unsampled.any() and np.all(np.broadcast_to(unsampled, inputs["kspace"].shape) <= (inputs["kspace"] == 0))
    np.testing.assert_allclose(rss(ifft2c(inputs["kspace"]), axis=1).numpy().max(axis=(1, 2)), 1.0, rtol=1e-5)
    # the target is the SENSE combination of the fully sampled data: E x_target ≈ full k-space (up to noise)
    full = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(inputs["sensitivities"] * target[:, None], axes=(-2, -1)),
                                       norm="ortho"), axes=(-2, -1))
    sampled = np.broadcast_to(inputs["mask"] > 0, full.shape)
    residual = np.linalg.norm(full[sampled] - inputs["kspace"][sampled]) / np.linalg.norm(inputs["kspace"][sampled])
    assert residual < 0.1
    assert set(info["fname"]) <= {f.encode() for f in os.listdir(synthetic_dir)}


def test_rss_target_and_crop_without_maps(synthetic_dir):
    dataset = make_dataset(synthetic_dir, mask_func=_mask_func(), batch_size=3, sensitivities=None, crop=(16, 20),
                           normalize=None)
    inputs, target = next(iter(dataset))
    assert "sensitivities" not in inputs
    assert inputs["kspace"].shape == (3, 4, 16, 20) and inputs["mask"].shape == (3, 1, 1, 20)
    assert target.dtype == tf.float32 and target.shape == (3, 16, 20)
    assert float(tf.reduce_min(target)) >= 0.0


def test_validation_masks_are_per_volume_and_stable(synthetic_dir):
    def masks():
        dataset = make_dataset(synthetic_dir, mask_func=_mask_func(), validation=True, return_info=True)
        return [(i["fname"][0], i["slice"][0], x["mask"].ravel()) for x, _, i in _collect(dataset)]

    first, second = masks(), masks()
    by_volume = {}
    for fname, _, mask in first:
        by_volume.setdefault(fname, []).append(mask)
    assert len(by_volume) == 3 and all(len(v) == 3 for v in by_volume.values())
    for volume_masks in by_volume.values():
        assert all(np.array_equal(volume_masks[0], m) for m in volume_masks)
    assert len({m[0].tobytes() for m in by_volume.values()}) > 1  # different volumes, different masks
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(first, second))
    # the mask is the one fastMRI's seeding rule gives
    fname = sorted(by_volume)[0].decode()
    expected, _ = _mask_func()((4, 32, 24), seed=validation_seed(fname))
    np.testing.assert_array_equal(by_volume[sorted(by_volume)[0]][0], np.ravel(expected))


def test_training_masks_change_per_epoch_and_shuffle_is_seeded(synthetic_dir):
    dataset = make_dataset(synthetic_dir, mask_func=_mask_func(), shuffle=True, seed=3, return_info=True)
    epoch1 = [(i["fname"][0], i["slice"][0], x["mask"].tobytes()) for x, _, i in _collect(dataset)]
    epoch2 = [(i["fname"][0], i["slice"][0], x["mask"].tobytes()) for x, _, i in _collect(dataset)]
    again = make_dataset(synthetic_dir, mask_func=_mask_func(), shuffle=True, seed=3, return_info=True)
    repeat = [(i["fname"][0], i["slice"][0], x["mask"].tobytes()) for x, _, i in _collect(again)]
    assert epoch1 == repeat  # same seed, same order and masks
    assert sorted(e[:2] for e in epoch1) == sorted(e[:2] for e in epoch2)
    masks1 = {e[:2]: e[2] for e in epoch1}
    assert sum(masks1[e[:2]] != e[2] for e in epoch2) > 4  # new masks in the next epoch


def test_truncated_file_in_folder_is_skipped_and_counted(synthetic_dir, tmp_path):
    for name in os.listdir(synthetic_dir):
        os.link(os.path.join(synthetic_dir, name), tmp_path / name)
    good = os.path.join(synthetic_dir, sorted(os.listdir(synthetic_dir))[0])
    with open(good, "rb") as f:
        (tmp_path / "zz_truncated.h5").write_bytes(f.read()[:20000])
    dataset = make_dataset(tmp_path, mask_func=_mask_func(), batch_size=2)
    assert dataset.num_skipped == 1 and "truncated" in dataset.skipped[0][1]
    assert sum(x["kspace"].shape[0] for x, _ in dataset) == 9


def test_sharding_splits_files(synthetic_dir):
    seen = []
    for index in range(2):
        dataset = make_dataset(synthetic_dir, num_shards=2, shard_index=index, return_info=True)
        seen.append({i["fname"][0] for _, _, i in _collect(dataset)})
    assert seen[0].isdisjoint(seen[1]) and len(seen[0] | seen[1]) == 3
    context = tf.distribute.InputContext(num_input_pipelines=3, input_pipeline_id=1)
    dataset = make_dataset(synthetic_dir, input_context=context, return_info=True)
    assert len({i["fname"][0] for _, _, i in _collect(dataset)}) == 1


def test_mixed_shapes_are_batched_by_shape(tmp_path, synthetic_dir):
    for name in os.listdir(synthetic_dir):
        os.link(os.path.join(synthetic_dir, name), tmp_path / name)
    write_synthetic_dataset(tmp_path, 1, 3, (24, 16), 4, seed=9, prefix="other")
    dataset = make_dataset(tmp_path, batch_size=2)
    shapes = [tuple(x["kspace"].shape) for x, _ in dataset]
    assert sum(s[0] for s in shapes) == 12
    assert {s[1:] for s in shapes} == {(4, 32, 24), (4, 24, 16)}


def test_padding_columns_are_masked_without_crop(tmp_path, rng):
    kspace = (rng.standard_normal((2, 2, 16, 20)) + 1j).astype(np.complex64)
    write_fastmri_file(tmp_path / "padded.h5", kspace, enc_limits_center=8, enc_limits_max=14)  # lines [2, 16)
    inputs, _ = next(iter(make_dataset(tmp_path, mask_func=EquispacedMaskFunc([0.5], [1]), sensitivities=None)))
    mask = inputs["mask"].numpy().ravel()
    assert mask[:2].sum() == 0 and mask[16:].sum() == 0 and mask[2:16].sum() == 14


def test_stored_mask_of_test_files_is_used(tmp_path, rng):
    mask = np.zeros(20, np.float32)
    mask[::3] = 1
    kspace = ((rng.standard_normal((1, 2, 16, 20)) + 1j) * mask).astype(np.complex64)
    write_fastmri_file(tmp_path / "test.h5", kspace, mask=mask, attrs={"acceleration": 3, "num_low_frequency": 0})
    inputs, _ = next(iter(make_dataset(tmp_path, mask_func=_mask_func(), sensitivities=None, normalize=None)))
    np.testing.assert_array_equal(inputs["mask"].numpy().ravel(), mask)
    np.testing.assert_allclose(inputs["kspace"].numpy()[0], kspace[0], rtol=1e-5, atol=1e-5)


def test_espirit_maps_are_cached(synthetic_dir, tmp_path):
    kwargs = {"calib_size": 12, "kernel_size": 4}
    dataset = make_dataset(synthetic_dir, sensitivities="espirit", cache_dir=tmp_path, espirit_kwargs=kwargs,
                           batch_size=9)
    inputs, target = next(iter(dataset))
    assert inputs["sensitivities"].shape == (9, 4, 32, 24) and target.dtype == tf.complex64
    cached = sorted(os.listdir(tmp_path))
    assert len(cached) == 9
    stamps = [os.path.getmtime(tmp_path / name) for name in cached]
    again = make_dataset(synthetic_dir, sensitivities="espirit", cache_dir=tmp_path, espirit_kwargs=kwargs,
                         batch_size=9)
    inputs2, _ = next(iter(again))
    np.testing.assert_array_equal(inputs2["sensitivities"].numpy(), inputs["sensitivities"].numpy())
    assert [os.path.getmtime(tmp_path / name) for name in cached] == stamps
    # |SENSE combination with ESPIRiT maps| ≈ RSS where the maps are defined (maps of unit norm)
    reference = make_dataset(synthetic_dir, sensitivities=None, batch_size=9)
    _, rss_target = next(iter(reference))
    covered = tf.reduce_sum(tf.abs(inputs["sensitivities"]) ** 2, axis=1) > 0.5
    ratio = tf.boolean_mask(tf.abs(target), covered) / tf.maximum(tf.boolean_mask(rss_target, covered), 1e-6)
    assert float(tf.reduce_mean(tf.abs(ratio - 1.0))) < 0.1


def test_bad_options_raise(synthetic_dir, tmp_path):
    with pytest.raises(ValueError, match="normalize"):
        make_dataset(synthetic_dir, normalize="mean")
    with pytest.raises(ValueError, match="crop"):
        make_dataset(synthetic_dir, crop=(64, 64))
    write_fastmri_file(tmp_path / "plain.h5", np.ones((1, 2, 8, 8), np.complex64))
    with pytest.raises(ValueError, match="sensitivities"):   # explicit 'stored' on a file without maps
        make_dataset(tmp_path, sensitivities="stored")
    with pytest.raises(ValueError, match="noise_free.*'image'"):   # a measured file has no noise-free reference
        make_dataset(tmp_path, sensitivities=None, reference="noise_free")


def test_cine_series_files_keep_the_time_axis(tmp_path):
    write_synthetic_dataset(tmp_path, 1, 2, (24, 20), 3, seed=2, series="cine", num_frames=4)
    inputs, target = next(iter(make_dataset(tmp_path, mask_func=_mask_func(), batch_size=2)))
    assert inputs["kspace"].shape == (2, 3, 4, 24, 20) and inputs["sensitivities"].shape == (2, 3, 4, 24, 20)
    assert inputs["mask"].shape == (2, 1, 1, 1, 20) and target.shape == (2, 4, 24, 20)
    assert target.dtype == tf.complex64
