// Two Pixel Forest commands at once, from two threads, as two macros or scripts started together
// would run them. Arguments: IMAGE CLASSIFIER. Prints RESULT lines for the test to check, then
// the worker's process id, then quits ImageJ (the worker must end with it).
import ij.IJ
import ij.ImageJ
import ij.ImagePlus
import ij.WindowManager

def (imagePath, classifier) = args as List
if (IJ.getInstance() == null) new ImageJ(ImageJ.NO_SHOW)
ImagePlus a = IJ.openImage(imagePath)
a.setTitle("first.tif")
ImagePlus b = a.duplicate()
b.setTitle("second.tif")
[a, b].each { it.show() }
def errors = Collections.synchronizedList([])
def threads = [[a, "Probabilities"], [b, "Uncertainty"]].collect { pair ->
    Thread.start {
        try {
            IJ.run(pair[0], "Apply Classifier...", "classifier=[${classifier}] output=${pair[1]} apply=[Current image]")
        } catch (Throwable t) {
            errors << t.toString()
        }
    }
}
threads*.join()
["first_Probabilities", "second_Uncertainty"].each { title ->
    ImagePlus r = WindowManager.getImage(title)
    if (r == null) {
        println "MISSING ${title}"
    } else {
        def stats = r.getStack().getProcessor(1).getStatistics()
        println "RESULT ${title} ${r.getWidth()}x${r.getHeight()}x${r.getNChannels()} mean=${stats.mean}"
        IJ.saveAsTiff(r, "${new File(classifier).parent}/${title}.tif")
    }
}
errors.each { println "ERROR ${it}" }
// the plugin's own class loader, as a macro sees it
println "WORKER " + IJ.runMacro('return call("org.pixelforest.fiji.PythonService.workerPid");')
System.exit(0)
