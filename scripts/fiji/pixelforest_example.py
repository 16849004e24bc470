# Pixel Forest from a Jython script: train -> apply -> threshold / watershed -> measure.
# Arguments: IMAGE LABELS OUTPUT_FOLDER (LABELS: 0 = unlabelled, 1 = background, 2 = object).
import sys

from ij import IJ, ImageJ, ImagePlus, Prefs, WindowManager
from ij.gui import Roi
from ij.macro import Interpreter
from ij.measure import ResultsTable
from ij.plugin.filter import ThresholdToSelection
from ij.plugin.frame import RoiManager
from ij.process import ImageProcessor
from java.lang import System

image_path, label_path, out = sys.argv[1:4]
if IJ.getInstance() is None:  # outside Fiji: start ImageJ, hidden and in batch mode, so that
    ImageJ(ImageJ.NO_SHOW)     # an error goes to the log and stderr, not to a dialog nobody sees
    Interpreter.batchMode = True

# 1. the user's scribbles -> ROI Manager, one group per class
labels = IJ.openImage(label_path)
rm = RoiManager.getRoiManager()
rm.reset()
Roi.setGroupNames("background,blob")
for k in (1, 2):
    labels.getProcessor().setThreshold(k, k, ImageProcessor.NO_LUT_UPDATE)
    roi = ThresholdToSelection.run(labels)
    roi.setGroup(k)
    rm.addRoi(roi)

# 2. train and apply
imp = IJ.openImage(image_path)
imp.show()
IJ.run(imp, "Train Classifier...",
       "labels=[ROI Manager] features=ilastik-default classes=[] trees=100 seed=1 save=[%s/blobs_jython.pfc]" % out)
IJ.run(imp, "Apply Classifier...", "classifier=[%s/blobs_jython.pfc] output=Probabilities apply=[Current image]" % out)
prob = WindowManager.getImage("blobs_Probabilities")  # results are named IMAGE_Output
IJ.saveAsTiff(prob, "%s/probabilities_jython.tif" % out)

# 3. objects: threshold the blob probability, split touching blobs, measure
blob = ImagePlus("blob_probability", prob.getStack().getProcessor(prob.getStackIndex(2, 1, 1)).duplicate())
Prefs.blackBackground = True
IJ.setThreshold(blob, 0.5, 1000000)
IJ.run(blob, "Convert to Mask", "")
IJ.run(blob, "Watershed", "")
IJ.run("Set Measurements...", "area mean centroid redirect=None decimal=3")
IJ.run(blob, "Analyze Particles...", "size=20-Infinity display clear")
rt = ResultsTable.getResultsTable()
rt.save("%s/objects_jython.csv" % out)
print("objects: %d" % rt.size())
System.exit(0)
