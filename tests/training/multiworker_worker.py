"""One worker of the two-worker loopback test (run as a subprocess by test_distribute.py)."""
import json
import os
import sys

import numpy as np


def main(out_path):
    import tensorflow as tf

    from tests.models.test_base import ResidualCNN
    from tests.models.zoo_contract import toy_problem
    from tfmri_zoo.training.distribute import make_strategy, worker_info
    from tfmri_zoo.training.supervised import train

    strategy = make_strategy("multi_worker")
    num_workers, index = worker_info()
    inputs, target = toy_problem(batch=8, seed=0)
    data = tf.data.Dataset.from_tensor_slices((inputs, target))
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    # each worker reads its own shard of the examples; per-worker batch 2, global batch 4
    local = data.shard(num_workers, index).batch(2).repeat().with_options(options)
    model, history = train(lambda: ResidualCNN(filters=4), local, None, os.path.dirname(out_path) + f"/run{index}",
                           epochs=2, steps_per_epoch=3, learning_rate=1e-2, seed=0, strategy=strategy, verbose=0,
                           tensorboard=False, checkpoint=False, backup=False)
    np.savez(out_path, *[w.numpy() for w in model.weights], loss=np.asarray(history.history["loss"]))
    print(json.dumps({"worker": index, "loss": history.history["loss"]}))


if __name__ == "__main__":
    main(sys.argv[1])
