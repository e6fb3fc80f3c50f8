/// Tests that import the support module get the generator too.
@_exported import SplitMix
