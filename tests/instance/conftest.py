import functools

from segscope.core.dataset import Dataset, Sample
from segscope.core.instances import Instances
from segscope.datasets import make_shapes_arrays, shapes_class_map


def _const(a):
    return a


def _instances(id_map, labels):
    return Instances.from_id_map(id_map, labels=labels)


def shapes_dataset(n=6, *, size=64, seed=0):
    """The shapes generator's images and instances, in memory (every 4th sample in val)."""
    data = make_shapes_arrays(n, size=size, seed=seed)
    samples = [
        Sample(
            sid,
            load_image=functools.partial(_const, data.images[i]),
            load_instances=functools.partial(_instances, data.id_maps[i], data.labels[i]),
            split="val" if i % 4 == 0 else "train",
        )
        for i, sid in enumerate(data.ids)
    ]
    return Dataset(samples, shapes_class_map(), task="instance")
