"""What the studio measured on devices, and the matrix that puts it side by side.

`log` keeps bench and eval results in TFSTUDIO_HOME; `datafiles` puts eval
data and real bench inputs on devices (verified, resumable, kept by hash);
`evaluate` runs on-device evaluation next to the host's figure and flags
runtime drift; `evalgate` is the deploy health gate's eval step; `report`
builds the variant × device matrix and `reportfmt` renders it.
"""
