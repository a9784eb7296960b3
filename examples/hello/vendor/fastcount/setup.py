# Metadata lives in pyproject.toml; setup.py only declares the C extension,
# which pyproject.toml cannot express.
from setuptools import Extension, setup

setup(
    ext_modules=[Extension("fastcount._speedups", ["src/fastcount/_speedups.c"])],
)
