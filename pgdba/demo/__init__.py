"""The e-learning demo: its schema in four forms, a data generator, the planted problems, a workload driver.

build.create_demo_database / build.build_demo_database make and fill the database, workload.run_workload
replays the application's traffic, planted lists what pgdba must find. See README.md in this folder.
"""
