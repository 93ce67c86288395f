from pgdba.cli import run

run()
