"""One-layer softmax classifier for CIFAR-10 (KTH DD2424, Assignment 1), as a library.

The Snakemake workflow in ``workflow/`` only wires these modules together:
``download`` -> ``cifar10`` -> ``preprocess`` -> ``gradcheck`` -> ``train`` -> ``plots``/``report``.
The maths lives in ``model``.
"""

__version__ = "0.1.0"
