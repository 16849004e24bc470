// Pixel Forest from a Groovy script: train -> apply -> threshold / watershed -> measure.
// Arguments: IMAGE LABELS OUTPUT_FOLDER (LABELS: 0 = unlabelled, 1 = background, 2 = object).
import ij.IJ
import ij.ImageJ
import ij.ImagePlus
import ij.Prefs
import ij.WindowManager
import ij.gui.Roi
import ij.macro.Interpreter
import ij.measure.ResultsTable
import ij.plugin.filter.ThresholdToSelection
import ij.plugin.frame.RoiManager
import ij.process.ImageProcessor

def (imagePath, labelPath, out) = args as List
if (IJ.getInstance() == null) {  // outside Fiji: start ImageJ, hidden and in batch mode, so that
    new ImageJ(ImageJ.NO_SHOW)    // an error goes to the log and stderr, not to a dialog nobody sees
    Interpreter.batchMode = true
}

// 1. the user's scribbles -> ROI Manager, one group per class
ImagePlus labels = IJ.openImage(labelPath)
RoiManager rm = RoiManager.getRoiManager()
rm.reset()
Roi.setGroupNames("background,blob")
(1..2).each { k ->
    labels.getProcessor().setThreshold(k, k, ImageProcessor.NO_LUT_UPDATE)
    Roi roi = ThresholdToSelection.run(labels)
    roi.setGroup(k)
    rm.addRoi(roi)
}

// 2. train and apply
ImagePlus imp = IJ.openImage(imagePath)
imp.show()
IJ.run(imp, "Train Classifier...", "labels=[ROI Manager] features=ilastik-default classes=[] trees=100 seed=1 save=[${out}/blobs_groovy.pfc]")
IJ.run(imp, "Apply Classifier...", "classifier=[${out}/blobs_groovy.pfc] output=Probabilities apply=[Current image]")
ImagePlus prob = WindowManager.getImage("blobs_Probabilities")  // results are named IMAGE_Output
IJ.saveAsTiff(prob, "${out}/probabilities_groovy.tif")

// 3. objects: threshold the blob probability, split touching blobs, measure
ImagePlus blob = new ImagePlus("blob_probability", prob.getStack().getProcessor(prob.getStackIndex(2, 1, 1)).duplicate())
Prefs.blackBackground = true
IJ.setThreshold(blob, 0.5, 1000000)
IJ.run(blob, "Convert to Mask", "")
IJ.run(blob, "Watershed", "")
IJ.run("Set Measurements...", "area mean centroid redirect=None decimal=3")
IJ.run(blob, "Analyze Particles...", "size=20-Infinity display clear")
ResultsTable rt = ResultsTable.getResultsTable()
rt.save("${out}/objects_groovy.csv")
println "objects: ${rt.size()}"
System.exit(0)
