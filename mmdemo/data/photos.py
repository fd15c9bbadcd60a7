"""A few real photographs that join the bundled gallery for real models, so text→image on a
real CLIP has something real to find ("a cat", "a cup of coffee"); the built-in model's
gallery never has them (it knows only shapes, colours and garments).

They come from scikit-image's and scikit-learn's sample data, installed with those packages
(no download), each public domain, CC0 or CC BY 2.0 (the credits are in docs/models.md). The
gallery keeps copies shrunk to fit 384 px, as JPEG.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

SIDE = 384


@dataclass(frozen=True)
class Photo:
    name: str  # file stem in the bundled folder
    caption: str
    label: str
    source: str  # "skimage:<function of skimage.data>" or "sklearn:<file of load_sample_images>"
    credit: str


PHOTOS = (
    Photo("pagoda", "a pagoda above a lake among trees", "pagoda", "sklearn:china.jpg",
          "danielbuechele on Flickr, CC BY 2.0"),
    Photo("flower", "an orange dahlia flower", "flower", "sklearn:flower.jpg", "vultilion on Flickr, CC BY 2.0"),
    Photo("astronaut", "a portrait of an astronaut in an orange spacesuit", "astronaut", "skimage:astronaut",
          "NASA (Eileen Collins), public domain"),
    Photo("cat", "a close-up of a tabby cat", "cat", "skimage:chelsea", "Stefan van der Walt, CC0"),
    Photo("coffee", "a cup of coffee on a saucer", "coffee", "skimage:coffee", "Rachel Michetti, CC0"),
    Photo("rocket", "a rocket on its launch pad at night", "rocket", "skimage:rocket", "SpaceX, public domain"),
    Photo("galaxies", "the Hubble deep field: galaxies in deep space", "galaxies", "skimage:hubble_deep_field",
          "NASA, public domain"),
    Photo("retina", "a photograph of the retina of an eye", "retina", "skimage:retina",
          "Mikael Häggström, CC0"),
    Photo("tissue", "a microscope image of stained tissue", "tissue", "skimage:immunohistochemistry",
          "no known copyright restrictions"),
    Photo("cameraman", "a black and white photo of a man filming with a camera on a tripod", "cameraman",
          "skimage:camera", "Lav Varshney, CC0"),
    Photo("coins", "a black and white photo of old coins", "coins", "skimage:coins",
          "no known copyright restrictions (Brooklyn Museum)"),
    Photo("bricks", "a brick wall", "bricks", "skimage:brick", "CC0 Textures, CC0"),
    Photo("grass", "grass seen from above", "grass", "skimage:grass", "CC0 Textures, CC0"),
    Photo("gravel", "gravel seen from above", "gravel", "skimage:gravel", "CC0 Textures, CC0"),
)


def load(photo: Photo) -> Image.Image:
    """The photo as RGB, shrunk to fit SIDE × SIDE."""
    kind, _, name = photo.source.partition(":")
    if kind == "skimage":
        import skimage.data

        pixels = getattr(skimage.data, name)()
    else:
        from sklearn.datasets import load_sample_image

        pixels = load_sample_image(name)
    image = Image.fromarray(np.asarray(pixels)).convert("RGB")
    image.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS)
    return image
