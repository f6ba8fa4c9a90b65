"""`python -m mnist_doctor` is the same as the `mnist-doctor` command."""

from mnist_doctor.cli import main

main()
