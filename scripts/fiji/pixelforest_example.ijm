// Pixel Forest from an ImageJ macro: train -> apply -> threshold / watershed -> measure.
// Argument: "IMAGE;LABELS;OUTPUT_FOLDER" where LABELS is a label image (0 = unlabelled, 1 = background,
// 2 = object), e.g. scribbles exported from ilastik or drawn in Fiji. With the ROI Manager already
// filled by hand, skip the first block.
args = split(getArgument(), ";");
setBatchMode(true);

// 1. the user's scribbles -> ROI Manager, one group per class
open(args[1]);
labels = getTitle();
roiManager("reset");
Roi.setGroupNames("background,blob");
for (k = 1; k <= 2; k++) {
	selectImage(labels);
	setThreshold(k, k);
	run("Create Selection");
	Roi.setGroup(k);
	roiManager("add");
}
close(labels);

// 2. train and apply
open(args[0]);
run("Train Classifier...", "labels=[ROI Manager] features=ilastik-default classes=[] trees=100 seed=1 save=[" + args[2] + "/blobs_ijm.pfc]");
run("Apply Classifier...", "classifier=[" + args[2] + "/blobs_ijm.pfc] output=Probabilities apply=[Current image]");
saveAs("Tiff", args[2] + "/probabilities_ijm.tif");

// 3. objects: threshold the blob probability, split touching blobs, measure
run("Duplicate...", "title=blob_probability duplicate channels=2");
setThreshold(0.5, 1000000);
setOption("BlackBackground", true);
run("Convert to Mask");
run("Watershed");
run("Set Measurements...", "area mean centroid redirect=None decimal=3");
run("Analyze Particles...", "size=20-Infinity display clear");
saveAs("Results", args[2] + "/objects_ijm.csv");
print("objects: " + nResults);
