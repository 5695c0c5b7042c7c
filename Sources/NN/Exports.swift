@_exported import Compute
