package backplane

// KeySlot is keySlot, for the tests of package backplane_test.
var KeySlot = keySlot
