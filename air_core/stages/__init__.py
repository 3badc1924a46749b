"""One function per workflow rule: read the rule's inputs, call the library, write its outputs.

Each ``workflow_scripts/<rule>.py`` parses its command line into typed settings and calls one of
these; the files they write go through ``air_core.artifacts``. They run by hand too (the command of
every job is in its log).
"""
