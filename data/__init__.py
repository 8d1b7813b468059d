"""Datasets, registered by name (images.py, synthetic.py, text.py), and in-memory batching (loader.py).

``DEFAULT_DATASET`` is the dataset of a config that names none (``data.name``): the MNIST sample embedded in
the repository (data/embedded/), so that every config runs out of the box, with no download.
"""

DEFAULT_DATASET = "mnist_sample"
