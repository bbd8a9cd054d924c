from dlkdd.cli import run

run()
