"""The generated world, apart from the real data pipeline: a dark-video action dataset and its bright
pretraining corpus (`dataset`), long night recordings with ground truth (`recordings`), and videos in the
real datasets' file formats and layouts (`formats`). Real H.264/MPEG-4 files, written with dlkdd.video."""
