"""Data: safe image loading, the generated datasets (shapes, tinted Fashion-MNIST), galleries."""
