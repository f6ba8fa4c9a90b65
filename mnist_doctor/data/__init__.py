"""The data stage: find MNIST (config, --data, env, Keras cache, download), check it, shape it.

Owns the one MNIST reader and the arrays a run trains on. Imports only `config`; numpy only,
except a Keras download, the one data step that needs Keras.
"""

from mnist_doctor.data.mnist import DataError, DataSource, Mnist, Prepared, prepare, read_npz

__all__ = ["DataError", "DataSource", "Mnist", "Prepared", "prepare", "read_npz"]
