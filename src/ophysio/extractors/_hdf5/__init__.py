"""What every HDF5-based format shares (HDF5 movies, MAT v7.3, and those to come): ``refs`` checks the
references a file makes to other files (external links, virtual sources, external raw storage) against
the dataset's folder; ``storage`` checks once how a dataset's values are stored and, on each read, that
the file still holds them."""
