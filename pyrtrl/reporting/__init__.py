"""A run directory's files (:mod:`.run_files`: one schema for every backend) and what is read
from them: reports (:mod:`.float_report`, :mod:`.device_report`, shared parts in
:mod:`.common`) and the live monitor (:mod:`.monitor`)."""
