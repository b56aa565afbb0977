module pekonode.local/gopekonode_golden

go 1.22
